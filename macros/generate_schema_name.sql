{#-
    The one place that decides where a model lands. sdrun names every schema in
    orchestrator/targets/schemas.py (SchemaSet) and passes the names in:
    SDRUN_SCHEMA (profiles/profiles.yml) is the marts schema, `servicedesk` on dev and for the live
    prod schema, `servicedesk_next` while prod builds a version, `servicedesk_canary` for the canary;
    SDRUN_STAGING_SCHEMA is where the models and seeds with the custom schema `staging` go.
    A plain `dbt build` without sdrun gets the same names: `<target schema>_staging`, so every build
    has its own staging tables and two builds never meet.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- elif custom_schema_name | trim == 'staging' -%}
        {{ env_var('SDRUN_STAGING_SCHEMA', target.schema | trim ~ '_staging') }}
    {%- else -%}
        {{ target.schema | trim }}_{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
