"""The stream's state file is for `aladia status` and the health API: failing to write it never stops the stream."""

from __future__ import annotations

from aladia_etl.core.settings import Settings
from aladia_etl.processing.model import StreamOptions, StreamProgress
from aladia_etl.processing.state import StatePublisher, streams_dir


def test_a_state_file_that_cannot_be_written_does_not_stop_the_stream(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    publisher = StatePublisher(settings, StreamOptions(), StreamProgress("spark"))
    streams_dir(settings).parent.mkdir(parents=True, exist_ok=True)
    streams_dir(settings).write_text("a file where the directory should be")  # every write fails (also as root)
    publisher.now()
    publisher.maybe()
    assert streams_dir(settings).read_text() == "a file where the directory should be"


def test_the_state_is_written_where_status_reads_it(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path)
    publisher = StatePublisher(settings, StreamOptions(stream_name="nightly"), StreamProgress("spark"))
    publisher.now()
    assert publisher.path == streams_dir(settings) / "spark-nightly.json" and publisher.path.is_file()
