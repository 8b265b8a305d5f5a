"""etl_lib: the shared library of the retail post-staging ETL.

The library knows no job: jobs in ``jobs/`` compose these modules. Importing it starts
no SparkSession and does no I/O.

Modules, one responsibility each:
    config          conf/*.yaml -> validated AppConfig
    connections     conf ``s3:`` and ``sources:`` (S3 API endpoint, JDBC sources)
    deploy_settings conf ``deploy:`` (what scripts/deploy.py renders specs from)
    versions        the JVM artifact pins (Maven coordinates)
    session         the SparkSession builder for local / EMR / Glue / Dataproc
    job             entry point, context, RUN_LOG, exit codes
    logs            text logs on a terminal, JSON lines on clusters
    landing         the landing contract: raw schemas and file patterns per dataset
    staging         the landing -> STAGING hop: reasons, REJECTED rows, atomic writes
    cleansing       trimming, case, parsing of the contract's formats
    validation      rules -> valid rows + rejected rows with every reason
    dedupe          latest row per business key
    duplicates      older copies of a key as a named rejection reason
    masking         PII policies: HMAC-SHA256 token, email, phone last 4, redact
    semistructured  generic JSON flatten, schema-drift reports, type-conflict reasons
    sessionize      clickstream sessions by inactivity gap
    joins           surrogate keys and dimension lookups with unknown members
    dimensions      the unknown member and SCD1 upserts
    changes         ChangeSpec: the options of apply_changes (DLT APPLY CHANGES)
    scd             apply_changes' pure logic: SCD1 state, SCD2 history, snapshots, as-of lookups
    cdc             apply_changes / apply_changes_from_snapshot on Delta (see docs/history.md)
    skew            salted joins and aggregations for hot keys
    compaction      small-file compaction of plain folders; Delta OPTIMIZE + VACUUM
    quality         conf-declared quality gates (Great Expectations 1.x + etl_lib checks)
    io              landing readers, the Warehouse port and its Delta and Snowflake
                    adapters, JDBC extraction, s3a settings, secrets, the Parquet zone
"""

__version__ = "0.1.0"
