{#-
    The column map: for each column of an export table, its raw name (as exported), its clean name
    (in staging) and its kind (how it is cleaned). It is declared once, in the sources file
    (models/staging/servicedesk/_servicedesk__sources.yml: each column's meta.clean and meta.kind,
    the kinds listed there); the staging models and the value log read it through these macros.

      source_columns(table)        the table's columns as the sources file declares them (name, meta, ...)
      column_map(table)            [{'clean': ..., 'raw': ..., 'kind': ..., 'parse': ...}, ...], in the sources' order
      clean_columns(table, kind)   the clean names (of one kind, or of every kind when kind is none)
      row_timestamps(table)        the clean names of the timestamp columns parsed row by row (the
                                   staging model's timestamp steps); a column with meta.parse per_value
                                   is parsed once per distinct value instead (timestamps_per_value,
                                   macros/cleaning/timestamps.sql)
      raw_column(table, clean)     the raw name of clean column `clean`
      key_column(table)            the staging key: the clean name of the meta.key column, or meta.derived_key
      trimmed_columns(table)       SQL: every column trimmed, missing values NULL (nullify), as its clean name,
                                   and as exported, as raw__<clean> (for may_have_changed, value_changes.sql)
      parsed_columns(table)        SQL: every column parsed by its kind (booleans, numbers' forms, timestamps),
                                   and raw__<clean> carried along
      checked_columns(table)       SQL: the number and timestamp columns as staging outputs them

    They read the sources from `graph`, which dbt fills only when it executes a node: while parsing,
    they return an empty list (or an empty string) and the rendered SQL is never run. A unit test
    has no `graph` either: it overrides source_columns with its table's columns, a YAML anchor of the
    sources file (`overrides: {macros: {source_columns: *comments_columns}}`; the unit tests of the
    staging models are in that file for this reason).
-#}

{% macro source_columns(table) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(_source_node(table).columns.values() | list) }}
{%- endmacro %}

{% macro column_map(table) -%}
    {%- set kinds = ['text', 'folded', 'vocabulary', 'timestamp', 'number', 'boolean'] -%}
    {%- set columns = [] -%}
    {%- for col in source_columns(table) -%}
        {%- set meta = col.meta or (col.config or {}).get('meta') or {} -%}
        {%- if not meta.get('clean') or meta.get('kind') not in kinds -%}
            {{ exceptions.raise_compiler_error(
                "source servicedesk." ~ table ~ ", column '" ~ col.name ~ "': meta needs clean (the name in staging) and kind (one of "
                ~ kinds | join(', ') ~ "), models/staging/servicedesk/_servicedesk__sources.yml") }}
        {%- endif -%}
        {%- set parse = meta.get('parse', 'per_row') -%}
        {%- if parse not in ['per_row', 'per_value'] or (parse == 'per_value' and meta.kind != 'timestamp') -%}
            {{ exceptions.raise_compiler_error(
                "source servicedesk." ~ table ~ ", column '" ~ col.name ~ "': meta.parse is per_row (the default) or, "
                ~ "for a timestamp column only, per_value, models/staging/servicedesk/_servicedesk__sources.yml") }}
        {%- endif -%}
        {%- do columns.append({'clean': meta.clean, 'raw': col.name, 'kind': meta.kind, 'parse': parse}) -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}

{% macro _source_node(table) -%}
    {%- if 'sources' not in graph -%}
        {{ exceptions.raise_compiler_error(
            "no graph to read the column map of source servicedesk." ~ table ~ " from: a unit test overrides "
            ~ "source_columns (overrides: {macros: {source_columns: *" ~ table ~ "_columns}}), see "
            ~ "models/staging/servicedesk/_servicedesk__sources.yml") }}
    {%- endif -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == 'servicedesk' and node.name == table -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("no source servicedesk." ~ table) }}
{%- endmacro %}

{% macro clean_columns(table, kind=none) -%}
    {%- set columns = column_map(table) -%}
    {%- if kind -%}
        {%- set columns = columns | selectattr('kind', 'equalto', kind) -%}
    {%- endif -%}
    {{ return(columns | map(attribute='clean') | list) }}
{%- endmacro %}

{% macro row_timestamps(table) -%}
    {{ return(column_map(table) | selectattr('kind', 'equalto', 'timestamp')
              | selectattr('parse', 'equalto', 'per_row') | map(attribute='clean') | list) }}
{%- endmacro %}

{% macro raw_column(table, clean) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- for col in column_map(table) if col.clean == clean -%}
        {{ return(col.raw) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("source servicedesk." ~ table ~ " has no column with meta.clean " ~ clean) }}
{%- endmacro %}

{% macro key_column(table) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set meta = _source_node(table).meta -%}
    {%- if meta.get('derived_key') -%}
        {{ return(meta.derived_key) }}
    {%- endif -%}
    {%- for col in column_map(table) if col.raw == meta.get('key') -%}
        {{ return(col.clean) }}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error("source servicedesk." ~ table ~ ": meta needs key (a column) or derived_key") }}
{%- endmacro %}

{#- Step 1 of every staging model: each column trimmed, NULL when missing (nullify), under its clean
    name; then each value as exported, raw__<clean>, which the steps carry to the final CTE for
    may_have_changed (macros/cleaning/value_changes.sql); a model outputs only those of the key and
    reference columns, which the quarantine reports for an excluded row (marts/quarantine.sql). -#}
{% macro trimmed_columns(table) -%}
    {%- for col in column_map(table) %}
        {{ nullify(adapter.quote(col.raw)) }} as {{ col.clean }},
    {%- endfor %}
    {%- for col in column_map(table) %}
        {{ adapter.quote(col.raw) }} as raw__{{ col.clean }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The forms of the number columns, `, col__form` each (number_form), in the step after `trimmed`: decided
    once, for the parse step and the row flag (may_have_changed) to read. -#}
{% macro number_forms(table) -%}
    {%- for col in column_map(table) | selectattr('kind', 'equalto', 'number') %},
        {{ number_form(col.clean) }} as {{ col.clean }}__form
    {%- endfor %}
{%- endmacro %}

{#- The parse step (after the timestamp steps): text of every kind as it is, booleans parsed, a number
    with its form (col__form, from number_forms) and its float8 within the plausible range
    (col__number, NULL beyond it: output by checked_columns), a timestamp from its parts with col__form
    and col__y (read by checked_columns); a timestamp parsed per value from the join that
    timestamps_per_value(table) adds to this step. -#}
{% macro parsed_columns(table) -%}
    {%- for col in column_map(table) %}
        {%- set c = col.clean %}
        {%- if col.kind == 'boolean' %}
        {{ parse_boolean(c) }} as {{ c }}
        {%- elif col.kind == 'number' %}
        {{ c }},
        {{ c }}__form,
        {{ number_in_range(number_from_form(c, c ~ '__form')) }} as {{ c }}__number
        {%- elif col.kind == 'timestamp' and col.parse == 'per_value' %}
        {{ c }}__once.{{ c }}__timestamp as {{ c }},
        {{ c }}__once.{{ c }}__form,
        {{ c }}__once.{{ c }}__y
        {%- elif col.kind == 'timestamp' %}
        {{ timestamp_from_parts(c) }} as {{ c }},
        {{ c }}__form,
        {{ c }}__y
        {%- else %}
        {{ c }}
        {%- endif %},
        raw__{{ c }}{{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The number and timestamp columns as a staging model outputs them, last in its select list, from
    the parse step (`relation`, when the final CTE joins other tables): a number as float8 within the
    plausible range (NULL beyond it) with its col__form; a timestamp within the plausible range with
    col__form and col__failure (why a present value is NULL). -#}
{% macro checked_columns(table, relation=none) -%}
    {%- set r = relation ~ '.' if relation else '' %}
    {%- for col in column_map(table) | selectattr('kind', 'in', ['number', 'timestamp']) %}
        {%- set c = col.clean %}
        {%- if col.kind == 'number' %}
        {{ r ~ c }}__number as {{ c }},
        {%- else %}
        {{ timestamp_in_range(r ~ c) }} as {{ c }},
        {%- endif %}
        {{ r ~ c }}__form{{ "," if col.kind == 'timestamp' or not loop.last }}
        {%- if col.kind == 'timestamp' %}
        {{ timestamp_failure(r ~ c) }} as {{ c }}__failure{{ "," if not loop.last }}
        {%- endif %}
    {%- endfor %}
{%- endmacro %}
