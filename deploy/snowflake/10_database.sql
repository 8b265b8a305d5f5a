-- The database and its layers (seed 001): LANDING (raw), STAGING (typed, cleansed;
-- transient: re-creatable from LANDING, so no fail-safe cost), CURATED (dimensions and
-- facts, full time travel), ANALYTICS (marts), METADATA (run log, schema drift).

CREATE DATABASE IF NOT EXISTS {{DATABASE}}
  DATA_RETENTION_TIME_IN_DAYS = 7
  COMMENT = 'Retail data platform: post-staging ETL (PySpark) targets';

CREATE SCHEMA IF NOT EXISTS {{DATABASE}}.LANDING
  COMMENT = 'Raw files as loaded: stages, file formats, external tables';
CREATE TRANSIENT SCHEMA IF NOT EXISTS {{DATABASE}}.STAGING
  DATA_RETENTION_TIME_IN_DAYS = 1
  COMMENT = 'Typed, cleansed, deduplicated rows and their REJECTED rows';
CREATE SCHEMA IF NOT EXISTS {{DATABASE}}.CURATED
  DATA_RETENTION_TIME_IN_DAYS = 30
  COMMENT = 'Dimensions (SCD1/SCD2) and facts with surrogate keys';
CREATE SCHEMA IF NOT EXISTS {{DATABASE}}.ANALYTICS
  DATA_RETENTION_TIME_IN_DAYS = 30
  COMMENT = 'Marts and secure views for BI';
CREATE SCHEMA IF NOT EXISTS {{DATABASE}}.METADATA
  COMMENT = 'RUN_LOG, SCHEMA_DRIFT';
