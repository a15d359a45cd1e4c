"""A Spark checkpoint belongs to the topics and the warehouse it was made for: the same stream name pointed at
another warehouse starts a checkpoint of its own and fills that warehouse, instead of resuming offsets that were
applied elsewhere (which left the new warehouse without every record before them); and a warehouse dropped and
created again under the same name is filled again, not resumed past."""

from __future__ import annotations

from aladia_etl.processing.checkpoints import checkpoint_name
from tests.e2e.helpers import assert_exact, simulate, stream
from tests.helpers import fresh_database


def test_the_same_stream_name_on_another_warehouse_starts_its_own_checkpoint(pipeline, stack_env, stack_settings):
    simulate(stack_env, 400, "--seed", "606")
    first = stream(stack_env, "spark", "--until-idle", "--name", "moved")
    assert first["records"] > 0 and first["lag"] == 0
    with fresh_database(stack_settings, "wh_moved") as name:
        env = {**stack_env, "ALADIA_POSTGRES__WAREHOUSE_DB": name}
        second = stream(env, "spark", "--until-idle", "--name", "moved")
        # every record again, from the earliest offsets, not only what arrived after the first stream stopped
        assert second["records"] >= first["records"]
        assert_exact(env)
        assert not second["notes"]
        # the same warehouse name, dropped and created again (a reset, a restore): its checkpoint is ahead of it
        with fresh_database(stack_settings, name):
            third = stream(env, "spark", "--until-idle", "--name", "moved")
            assert third["records"] >= first["records"]
            assert any("checkpoint was ahead of the warehouse" in note for note in third["notes"]), third["notes"]
            assert_exact(env)
            # set aside, not deleted: kept under a name that says so
            root = stack_settings.data_dir / "spark" / "checkpoints"
            assert any(".set-aside-" in p.name and p.is_dir() for p in root.iterdir())
        moved = stack_settings.model_copy(
            update={"postgres": stack_settings.postgres.model_copy(update={"warehouse_db": name})}
        )
    checkpoints = stack_settings.data_dir / "spark" / "checkpoints"
    assert (checkpoints / checkpoint_name(stack_settings, "moved")).is_dir()
    assert (checkpoints / checkpoint_name(moved, "moved")).is_dir()
