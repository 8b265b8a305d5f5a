"""reviews_clean (seed 004, Glue Job 1): landing reviews JSON -> STG_REVIEWS + REJECTED_REVIEWS.

Validation, type casting, null and malformed handling, standardization; the nested
``images`` and ``metadata`` stay nested here (reviews_flatten flattens them). Every landing
line ends in exactly one of the two tables; REJECTED_REVIEWS keeps every reason:

* ``unparseable_record`` + ``malformed_json`` or ``<field>_type_conflict`` (``"rating": "five"``)
* ``review_id_missing``, ``product_id_missing``, ``customer_id_missing``, ``rating_missing``,
  ``review_ts_missing``, ``review_ts_invalid``, ``rating_out_of_range`` (not 1-5),
  ``helpful_votes_negative``
* ``duplicate_review_id``: an older copy of a review seen again the same day (latest
  ``review_ts`` wins, ties by the later file).

Nulls: ``verified`` null -> false, ``helpful_votes`` null -> 0, ``images`` null -> [],
``metadata`` null -> {}; empty text -> null. Text is trimmed; ``metadata.source`` and
``metadata.language`` are lower-cased. customer_id is not PII (landing contract); review
text (title, body, image captions) may hold e-mail addresses typed by reviewers: they are
replaced by ``[email removed]``
(``jobs.reviews_clean.redact_emails_in_text``), and any column policy in conf
``masking.policies.reviews`` is applied before anything is written.

Run alone: ``spark-submit jobs/reviews_clean.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.cleansing import blank_to_null, parse_timestamp
from etl_lib.duplicates import superseded_rule
from etl_lib.io.files import RAW_RECORD, SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.landing import REVIEWS_SCHEMA
from etl_lib.masking import Policy, mask_columns
from etl_lib.semistructured import conflict_rules, report_landing_drift
from etl_lib.staging import (
    StagedBatch, read_optional_landing, stage_rows, unparseable, write_staged,
)
from etl_lib.validation import Rule, not_parsed

JOB_NAME = "reviews_clean"
RAW_COLUMNS = tuple(f.name for f in REVIEWS_SCHEMA.fields)
#: What reviewers type that looks like an e-mail address.
EMAIL_PATTERN = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
EMAIL_REPLACEMENT = "[email removed]"
STAGED_COLUMNS = (
    "review_id", "product_id", "customer_id", "rating", "title", "body", "review_ts",
    "review_date", "verified", "helpful_votes", "images", "metadata", "source_file",
)
_LOWERCASE_METADATA = ("source", "language")
RAW_WITHHELD = "[withheld: masking.policies.reviews applies]"


class Params(BaseModel):
    """``jobs.reviews_clean`` in conf."""

    model_config = ConfigDict(extra="forbid")
    redact_emails_in_text: bool = True
    #: Compare the raw JSON with the contract and record unknown fields (METADATA.SCHEMA_DRIFT).
    report_schema_drift: bool = True


def redact_emails(text: Column) -> Column:
    """``text`` with every e-mail address replaced by ``[email removed]``."""
    return F.regexp_replace(text, EMAIL_PATTERN, EMAIL_REPLACEMENT)


def protect_privacy(
    raw: DataFrame, redact_text: bool, pii_policies: Mapping[str, Policy] | None, masking_key: bytes
) -> DataFrame:
    """Redact e-mails in the free text (and the raw line) and apply conf masking policies.

    Runs first, so neither STAGING nor REJECTED ever sees what it removes. With column
    policies the raw text of an unparseable line cannot be masked field by field: it is
    withheld from REJECTED_REVIEWS (see :func:`transform`).
    """
    protected = raw
    if redact_text:
        # Captions are typed by reviewers too (and reviews_flatten gives them a column).
        captions = F.transform(
            "images", lambda i: i.withField("caption", redact_emails(i["caption"])))
        protected = protected.withColumns({
            **{c: redact_emails(F.col(c)) for c in ("title", "body", RAW_RECORD)},
            "images": captions,
        })
    if pii_policies:
        # Blank is missing, not a value to hash: validation must still see it as missing.
        blank = {c: blank_to_null(F.col(c)) for c in pii_policies if c in protected.columns}
        protected = mask_columns(protected.withColumns(blank), pii_policies, masking_key)
    return protected


def standardize(raw: DataFrame) -> DataFrame:
    """Typed, standardized columns in place of the raw ones; the raw row kept as ``_record``."""
    image = lambda i: F.struct(  # noqa: E731
        blank_to_null(i["url"]).alias("url"), blank_to_null(i["caption"]).alias("caption"))
    metadata = F.transform_values(
        F.coalesce(F.col("metadata"), F.create_map().cast("map<string,string>")),
        lambda k, v: F.when(k.isin(*_LOWERCASE_METADATA), F.lower(F.trim(v))).otherwise(F.trim(v)),
    )
    no_images = F.array().cast(REVIEWS_SCHEMA["images"].dataType)
    return raw.withColumn("_record", F.struct(*[F.col(c) for c in RAW_COLUMNS])).withColumns({
        "review_id": blank_to_null(F.col("review_id")),
        "product_id": blank_to_null(F.col("product_id")),
        "customer_id": blank_to_null(F.col("customer_id")),
        "title": F.regexp_replace(blank_to_null(F.col("title")), r"\s+", " "),
        "body": blank_to_null(F.col("body")),
        "raw_review_ts": blank_to_null(F.col("review_ts")),
        "review_ts": parse_timestamp(F.col("review_ts")),
        "verified": F.coalesce(F.col("verified"), F.lit(False)),
        "helpful_votes": F.coalesce(F.col("helpful_votes"), F.lit(0)),
        "images": F.transform(F.coalesce(F.col("images"), no_images), image),
        "metadata": metadata,
        "source_file": F.col(SOURCE_FILE),
    }).withColumn("review_date", F.to_date("review_ts"))


def rejection_rules() -> list[Rule]:
    """Why a review is rejected; "missing" applies only to records the reader could parse."""
    parsed = F.col(RAW_RECORD).isNull()

    def missing(column: str, source: str | None = None) -> Rule:
        return Rule(f"{column}_missing", parsed & F.col(source or column).isNull())

    return [
        *conflict_rules(REVIEWS_SCHEMA),
        missing("review_id"), missing("product_id"), missing("customer_id"), missing("rating"),
        missing("review_ts", "raw_review_ts"),
        not_parsed("raw_review_ts", F.col("review_ts"), "review_ts"),
        Rule("rating_out_of_range", ~F.col("rating").between(1, 5)),
        Rule("helpful_votes_negative", F.col("helpful_votes") < 0),
    ]


def transform(
    raw: DataFrame,
    business_date: date,
    redact_emails_in_text: bool = True,
    pii_policies: Mapping[str, Policy] | None = None,
    masking_key: bytes = b"",
) -> StagedBatch:
    """A day's raw reviews (as ``read_landing`` gives them) -> STG_REVIEWS, REJECTED_REVIEWS."""
    typed = standardize(protect_privacy(raw, redact_emails_in_text, pii_policies, masking_key))
    rules = rejection_rules()
    marked, duplicate = superseded_rule(
        typed, [unparseable(), *rules], ["review_id"], ["review_ts", SOURCE_FILE],
        "duplicate_review_id",
    )
    batch = stage_rows(marked, [*rules, duplicate], F.col("_record"), business_date)
    staged = batch.valid.select(*STAGED_COLUMNS, F.lit(business_date).alias("business_date"))
    rejected = batch.rejected
    if pii_policies:
        rejected = rejected.withColumn(
            "raw_record", F.when(F.col("raw_record").isNotNull(), F.lit(RAW_WITHHELD))
        )
    return StagedBatch(valid=staged, rejected=rejected)


def run(ctx: JobContext) -> RunStats:
    """Read the day's reviews, stage them, and report fields the contract does not know."""
    params = ctx.config.job_params(JOB_NAME, Params)
    stats, day = RunStats(), ctx.run_date
    staged_table = ctx.table("stg_reviews")
    raw = read_optional_landing(
        ctx.spark, ctx.warehouse, ctx.config.landing.root, "reviews", day, staged_table
    )
    if raw is None:
        ctx.log.info("no reviews files for %s: STG_REVIEWS unchanged", day)
        return stats
    if params.report_schema_drift:
        report_landing_drift(ctx, "reviews", REVIEWS_SCHEMA)
    policies = ctx.masking_policies("reviews")
    # Parse every field once: both writes read the cache, so a type conflict in any field
    # is seen by both (the JSON reader only converts the fields a query asks for).
    batch = transform(
        raw.cache(), day, params.redact_emails_in_text,
        policies, ctx.masking_key() if policies else b"",
    )
    ctx.quality_gate(stg_reviews=batch.valid, rejected_reviews=batch.rejected)
    write_staged(ctx.warehouse, batch, staged_table, ctx.table("rejected_reviews"), day, stats)
    stats.rows_out += stats.tables.get(staged_table, 0)
    raw.unpersist()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
