"""etl_lib: the shared library of the retail post-staging ETL.

The library knows no job: jobs in ``jobs/`` compose these modules. Importing it starts
no SparkSession and does no I/O.

Modules, one responsibility each:
    config      conf/*.yaml -> validated AppConfig
    session     the SparkSession builder for local / EMR / Glue / Dataproc
    job         entry point, context, RUN_LOG, exit codes
    landing     the landing contract: raw schemas and file patterns per dataset
    io          files (landing readers), warehouse (the port), delta (the Delta adapter)
    cleansing   trimming, case, parsing of the contract's formats
    validation  rules -> valid rows + rejected rows with every reason
    dedupe      latest row per business key
    joins       surrogate keys and dimension lookups with unknown members
    changes     ChangeSpec: the options of apply_changes (DLT APPLY CHANGES)
    scd         apply_changes' pure logic: SCD1 state, SCD2 history, snapshots, as-of lookups
    cdc         apply_changes / apply_changes_from_snapshot on Delta (see docs/history.md)
"""

__version__ = "0.1.0"
