"""A user's own database, through a pipeline file: a second source schema unlike the orders one — every type family
applications commonly use (edge values included: NaN and ±Infinity, dates and times far from 1970, 24:00, nested
and large JSON, bytes, arrays, enums, domains), a composite primary key, a table without one (`key:`, hard deletes),
mixed-case quoted names, 1 MB jsonb and text values (TOAST) kept while other columns are updated — captured by a
connector of its own, mirrored into the warehouse by **both engines** with inserts, updates and deletes, and
`aladia verify` exact, column by column."""

from __future__ import annotations

import json

import psycopg
import pytest

from aladia_etl.bus.offsets import wait_for_records
from tests.e2e.helpers import stream
from tests.helpers import fresh_database, run_cli

SCHEMA = """
DROP SCHEMA IF EXISTS kinds CASCADE;
CREATE SCHEMA kinds;
CREATE TYPE kinds.mood AS ENUM ('sad', 'ok', 'happy', 'very happy');
CREATE DOMAIN kinds.money_amount AS numeric(12,2) CHECK (VALUE >= 0);
CREATE TABLE kinds.everything (
    id bigint PRIMARY KEY,
    small smallint, normal integer, big bigint,
    exact numeric(18,6), free numeric,
    single real, double double precision,
    flag boolean,
    label text, code varchar(12), fixed char(5),
    ident uuid,
    day date, at_time time, at_timetz timetz, at_ts timestamp, at_ts3 timestamp(3), at_tstz timestamptz,
    span interval,
    doc json, docb jsonb, blob bytea,
    ints integer[], texts text[], nums numeric[], moods kinds.mood[],
    mood kinds.mood, price kinds.money_amount,
    big_text text, big_doc jsonb
);
CREATE TABLE kinds.line_items (order_no integer, line smallint, qty integer, note text, PRIMARY KEY (order_no, line));
CREATE TABLE kinds.events (event_id uuid NOT NULL, kind text, payload jsonb);
CREATE TABLE kinds."MixedCase" ("Id" integer PRIMARY KEY, "Some Value" text, "camelCol" integer);
ALTER TABLE kinds.everything REPLICA IDENTITY FULL;
ALTER TABLE kinds.line_items REPLICA IDENTITY FULL;
ALTER TABLE kinds.events REPLICA IDENTITY FULL;
ALTER TABLE kinds."MixedCase" REPLICA IDENTITY FULL;
"""

ROWS = """
INSERT INTO kinds.everything VALUES
 (1, -32768, -2147483648, -9223372036854775808, '123456789012.123456',
  '3.14159265358979323846264338327950288419716939937510582097494459', 1.17549435e-38, 5e-324, true,
  'héllo 🌍 "quoted" \\ back', 'varchar', 'ab', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '0001-01-01', '00:00:00', '10:00:00+02', '0001-01-01 00:00:00', '1900-01-01 12:00:00.123', '1900-01-01 00:00:00+00',
  '1 year 2 mons 3 days 04:05:06.789', '{"b": 1,  "a": [1, 2, {"c": null}]}', '{"nested": {"deep": [1, "two", 3.5]}}',
  '\\x00ff10', '{1,NULL,3}', '{"a b","c,d",NULL}', '{1.5,-2,0.001}', '{happy,"very happy"}', 'ok', 10.50,
  NULL, NULL),
 (2, 32767, 2147483647, 9223372036854775807, '-0.000001', 'NaN', 'NaN', 'Infinity', false,
  '', 'x', 'abcde', '00000000-0000-0000-0000-000000000000',
  '9999-12-31', '24:00:00', '23:30:00-05:30', '9999-12-31 23:59:59.999999', '2100-06-30 23:59:59.999',
  '2100-01-01 12:00:00.654321+05', '-1 days', '[]', '{}', '\\x', '{}', '{}', '{}', '{}', 'sad', 0,
  NULL, NULL),
 (3, 0, 0, 0, '0', '1e-20', 'Infinity', '-Infinity', NULL,
  NULL, NULL, NULL, NULL, '1970-01-01', '12:34:56.789012', '00:00:00+00', '1970-01-01 00:00:00',
  '1970-01-01 00:00:00.001', '2038-01-19 03:14:08+00', '0', 'null', 'null', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  repeat('large text with some variety 0123456789 ', 26000),
  (SELECT jsonb_agg(jsonb_build_object('i', i, 'v', md5(i::text))) FROM generate_series(1, 20000) i));
INSERT INTO kinds.line_items VALUES (1, 1, 5, 'first'), (1, 2, 7, NULL), (2, 1, 1, 'other order');
INSERT INTO kinds.events VALUES ('11111111-1111-1111-1111-111111111111', 'created', '{"x": 1}'),
                                ('22222222-2222-2222-2222-222222222222', 'created', '{"x": 2}');
INSERT INTO kinds."MixedCase" VALUES (1, 'One', 10), (2, 'Two', 20);
"""

CHANGES = """
UPDATE kinds.everything SET small = 42, label = 'updated' WHERE id = 3;  -- the 1 MB values stay untouched (TOAST)
UPDATE kinds.everything SET double = -0.0, free = 'Infinity', nums = '{123456789.123456789}', moods = '{}'
 WHERE id = 1;
UPDATE kinds.everything SET free = '-Infinity' WHERE id = 3;
INSERT INTO kinds.everything (id, label, free) VALUES (4, 'to be deleted', '1');
DELETE FROM kinds.everything WHERE id = 4;
UPDATE kinds.line_items SET qty = qty + 1 WHERE order_no = 1;
DELETE FROM kinds.line_items WHERE order_no = 2 AND line = 1;
DELETE FROM kinds.events WHERE event_id = '22222222-2222-2222-2222-222222222222';
INSERT INTO kinds.events VALUES ('33333333-3333-3333-3333-333333333333', 'late', NULL);
UPDATE kinds."MixedCase" SET "Some Value" = 'Uno', "camelCol" = NULL WHERE "Id" = 1;
DELETE FROM kinds."MixedCase" WHERE "Id" = 2;
"""

PIPELINE = """
tables:
  include: ["kinds.*"]
  overrides:
    "kinds.events":
      key: [event_id]
      deletes: hard
    "kinds.MixedCase":
      target: mixed_case
target_schema: mirror
"""

KINDS = {
    "ALADIA_CDC__TOPIC_PREFIX": "kinds",
    "ALADIA_CDC__SLOT_NAME": "kinds_slot",
    "ALADIA_CDC__CONNECTOR_NAME": "kinds-connector",
    "ALADIA_CDC__PUBLICATION": "kinds_pub",
}


def source(settings):
    return psycopg.connect(**settings.postgres.conninfo(settings.postgres.source_db), autocommit=True)


def topic_settings(settings):
    return settings.model_copy(update={"cdc": settings.cdc.model_copy(update={"topic_prefix": "kinds"})})


def published(settings, tables: tuple[str, ...], at_least: int) -> None:
    """Wait until the kinds connector has published `at_least` records to its topics."""
    from aladia_etl.bus.topics import cdc_topics

    topics = topic_settings(settings)
    wait_for_records(topics, cdc_topics(topics, tables), at_least, timeout=240)


@pytest.fixture(scope="module")
def kinds(pipeline, stack_env, tmp_path_factory):
    """The kinds schema with its rows, a pipeline file mirroring it, and a connector of its own (its topics and
    slot deleted after the module)."""
    from aladia_etl.flows.bench.setup import delete_topics

    settings = pipeline
    path = tmp_path_factory.mktemp("pipeline") / "aladia.yaml"
    path.write_text(PIPELINE)
    env = {**stack_env, **KINDS, "ALADIA_PIPELINE": str(path)}
    delete_topics(topic_settings(settings), "kinds")
    with source(settings) as conn:
        conn.execute(SCHEMA)
        conn.execute(ROWS)
    validated = run_cli(["pipeline", "validate", "--json"], env)
    assert validated.code == 0, validated.output
    report = json.loads(validated.stdout)
    assert [t["target"] for t in report["tables"]] == [
        "mirror.mixed_case",
        "mirror.kinds__events",
        "mirror.kinds__everything",
        "mirror.kinds__line_items",
    ]
    assert not report["warnings"]
    for args in (["init"], ["cdc", "register"]):
        result = run_cli(args, env, timeout=300)
        assert result.code == 0, result.output
    captured = tuple(report["captured"])
    published(settings, captured, 3 + 3 + 2 + 2)
    with source(settings) as conn:
        conn.execute(CHANGES)
    # 12 changes, 4 of them deletes with their tombstones
    published(settings, captured, 10 + 12 + 4)
    yield env
    try:
        result = run_cli(["cdc", "delete", "--drop-slot"], env, timeout=300)
    finally:
        delete_topics(topic_settings(settings), "kinds")
        with source(settings) as conn:
            conn.execute("DROP PUBLICATION IF EXISTS kinds_pub")
            conn.execute("DROP SCHEMA kinds CASCADE")
    assert result.code == 0, result.output


def test_init_publishes_exactly_the_pipelines_tables_and_creates_no_demo_table(kinds, pipeline):
    with source(pipeline) as conn:
        published_tables = {
            f"{s}.{t}"
            for s, t in conn.execute(
                "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = 'kinds_pub'"
            )
        }
    assert published_tables == {
        "kinds.everything",
        "kinds.line_items",
        "kinds.events",
        "kinds.MixedCase",
        "public.aladia_heartbeat",
        "public.aladia_signal",
    }


@pytest.mark.parametrize("engine", ["spark", "beam"])
def test_both_engines_mirror_every_type_exactly(kinds, stack_settings, engine):
    with fresh_database(stack_settings, "wh_kinds") as name:
        env = {**kinds, "ALADIA_POSTGRES__WAREHOUSE_DB": name}
        plan = run_cli(["pipeline", "plan", "--json"], env)
        assert plan.code == 0, plan.output
        actions = {(c["action"], c["table"]) for c in json.loads(plan.stdout)}
        assert ("create table", "mirror.kinds__everything") in actions
        result = stream(env, engine, "--until-idle")
        if result["dead_letters"]:
            dead = json.loads(run_cli(["dlq", "list", "--json"], env).stdout)
            raise AssertionError([(d["topic"], d["offset"], d["reason"]) for d in dead])
        assert result["lag"] == 0, result
        verified = run_cli(["verify", "--json"], env, timeout=300)
        report = json.loads(verified.stdout)
        assert verified.code == 0 and report["ok"], json.dumps(report, indent=1)
        counts = {t["table"]: (t["source_rows"], t["warehouse_rows"]) for t in report["tables"]}
        assert counts == {
            "mirror.mixed_case": (1, 1),
            "mirror.kinds__events": (2, 2),
            "mirror.kinds__everything": (3, 3),
            "mirror.kinds__line_items": (2, 2),
        }
        assert not report["daily_summary"]["applies"]
        target = stack_settings.postgres.model_copy(update={"warehouse_db": name})
        with psycopg.connect(**target.conninfo(name), autocommit=True) as wh:
            # soft deletes are kept (with the delete's position), hard deletes are gone
            assert wh.execute("SELECT is_deleted FROM mirror.kinds__everything WHERE id = 4").fetchone() == (True,)
            assert wh.execute("SELECT count(*) FROM mirror.kinds__events").fetchone() == (2,)
            assert (
                wh.execute("SELECT length(big_text) FROM mirror.kinds__everything WHERE id = 3").fetchone()[0] > 10**6
            )
        assert run_cli(["pipeline", "plan", "--json"], env).stdout.strip() == "[]"  # nothing left to change
