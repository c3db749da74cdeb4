{#-
    The one place that decides where a model lands.
    Marts build into the target schema itself: `servicedesk` (dev and the live prod schema),
    `servicedesk_canary`, or a versioned `servicedesk_<run_id>` for a blue-green build
    (SDRUN_SCHEMA sets it). Models with a custom schema (staging, seeds) build beside it as
    `<target schema>_<custom>`, so every build has its own staging tables and two builds never meet.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ target.schema | trim }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
