-- METADATA: one RUN_LOG row per job run (merged by run_id + job), schema drift per day.

CREATE TABLE IF NOT EXISTS {{DATABASE}}.METADATA.RUN_LOG (
  RUN_ID VARCHAR NOT NULL,
  JOB VARCHAR NOT NULL,
  RUN_DATE DATE NOT NULL,
  ENV VARCHAR NOT NULL,
  STATUS VARCHAR NOT NULL,
  ROWS_IN NUMBER(38,0),
  ROWS_OUT NUMBER(38,0),
  ROWS_REJECTED NUMBER(38,0),
  TABLES VARIANT COMMENT 'table -> rows written',
  STARTED_AT TIMESTAMP_NTZ,
  DURATION_S FLOAT,
  ERROR VARCHAR,
  CONSTRAINT PK_RUN_LOG PRIMARY KEY (RUN_ID, JOB)
) COMMENT = 'Every job run: rows in/out/rejected, duration, status (etl_lib.job)';

CREATE TABLE IF NOT EXISTS {{DATABASE}}.METADATA.SCHEMA_DRIFT (
  DATASET VARCHAR NOT NULL,
  BUSINESS_DATE DATE NOT NULL,
  FIELD_PATH VARCHAR NOT NULL,
  RECORD_COUNT NUMBER(38,0)
) COMMENT = 'Fields seen in semi-structured input that the contract does not know';

-- The Spark schema each table was last written with, kept by the warehouse adapter
-- (etl_lib/io/snowflake.py) so that reads give back Spark's types: LONG rather than
-- NUMBER(38,0), arrays / maps / structs rather than VARIANT text.
CREATE TABLE IF NOT EXISTS {{DATABASE}}.METADATA.SPARK_SCHEMAS (
  TABLE_NAME VARCHAR NOT NULL COMMENT 'SCHEMA.NAME',
  SPARK_SCHEMA VARCHAR NOT NULL COMMENT 'StructType.json() of the columns written',
  UPDATED_AT TIMESTAMP_NTZ,
  CONSTRAINT PK_SPARK_SCHEMAS PRIMARY KEY (TABLE_NAME)
) COMMENT = 'Spark schema each table was last written with (etl_lib.io.snowflake)';
