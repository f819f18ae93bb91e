"""The overlapped survey (damage model and write on a second thread, decode ahead) gives what the
one-thread loop gives: the same records in the same order, nothing lost at a stop, and a frame
that could not be anonymized is still dropped and counted, never written."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from voirie.anonymize import Anonymizer, AnonymizerOptions
from voirie.edge.survey import SurveyConfig, SurveyHooks, run_survey, survey_video
from voirie.edge.survey.feeds import ReplayFeed
from voirie.edge.survey.overlap import InOrderWorker, ReadAhead
from voirie.edge.survey.pipeline import SurveyPipeline
from voirie.edge.survey.writer import SurveyWriter, read_records
from voirie.lab.sample.drive import make_sample_drive
from voirie.models import load_detector


@pytest.fixture(scope="module")
def drive():
    return make_sample_drive()


@pytest.fixture(scope="module")
def models():
    anonymizer = Anonymizer.default()
    yield anonymizer, load_detector("default", threads=1)
    anonymizer.close()


@pytest.mark.parametrize("durations", [(0.03, 0.0, 0.02, 0.0, 0.01), (0.0, 0.0, 0.0)])
def test_worker_runs_jobs_in_order_and_drain_waits_for_all(durations: tuple[float, ...]) -> None:
    done: list[int] = []

    def work(job: tuple[int, float]) -> None:
        time.sleep(job[1])
        done.append(job[0])

    worker = InOrderWorker(work, depth=1)
    for index, pause in enumerate(durations):
        worker.submit((index, pause))
    worker.drain()
    assert done == list(range(len(durations)))
    worker.close()


def test_worker_raises_the_first_error_and_skips_later_jobs() -> None:
    done: list[int] = []

    def work(job: int) -> None:
        if job == 1:
            raise OSError("disk full")
        done.append(job)

    worker = InOrderWorker(work)
    worker.submit(0)
    worker.submit(1)
    with pytest.raises(OSError, match="disk full"):
        worker.drain()
        worker.submit(2)  # when drain did not raise (it must), submitting does
    worker.close()
    assert done == [0]


def test_read_ahead_gives_every_item_and_stops_when_closed() -> None:
    produced: list[int] = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = ReadAhead(items(), depth=3)
    first = []
    for item in ahead:
        first.append(item)
        if item == 4:
            break
    ahead.close()
    assert first == [0, 1, 2, 3, 4] and len(produced) <= 5 + 3 + 1  # read at most the queue's depth ahead
    assert list(ReadAhead(iter(range(7)))) == list(range(7))


def test_read_ahead_raises_the_sources_error_to_the_reader() -> None:
    def items():
        yield 1
        raise ValueError("corrupt frame")

    with pytest.raises(ValueError, match="corrupt frame"):
        list(ReadAhead(items()))


def test_overlapped_survey_writes_the_same_records_as_one_thread(drive, models, tmp_path: Path) -> None:
    anonymizer, detector = models
    runs = {}
    for overlap in (False, True):
        anonymizer.horizon.reset()  # both runs start from an unknown horizon (it is learnt from the frames)
        config = SurveyConfig(survey_id="same", overlap=overlap)
        result = survey_video(drive.video, drive.nmea, tmp_path / str(overlap), anonymizer, detector, config,
                              progress=False)
        runs[overlap] = (read_records(result.survey_dir), result.stats)
    (one, one_stats), (two, two_stats) = runs[False], runs[True]
    assert len(one) == one_stats.written >= 40 and one_stats.detections > 0
    assert two_stats.photos_per_s > 0 and two_stats.photos_per_s == pytest.approx(two_stats.written / two_stats.elapsed_s)
    sequences = [r.sequence for r in two]
    assert sequences == sorted(sequences)  # in order, though written by another thread
    # The anonymizer's time limit may drop a frame on a loaded machine (fail closed): compare
    # the photos both runs wrote, and allow no more than such drops to differ.
    common = {r.sequence for r in one} & set(sequences)
    assert len(common) >= len(one) - one_stats.anonymization_dropped - two_stats.anonymization_dropped - 1
    by_sequence = {r.sequence: r for r in one}
    for record in two:
        if record.sequence in common:
            assert record.model_dump(exclude={"quality"}) == by_sequence[record.sequence].model_dump(exclude={"quality"})
    assert all((tmp_path / "True" / r.image_file).is_file() for r in two)


def test_a_stop_loses_no_photo_already_anonymized(drive, models, tmp_path: Path) -> None:
    anonymizer, detector = models
    config = SurveyConfig(survey_id="stop", overlap=True)
    stop_after = 12
    with ReplayFeed(drive.video, drive.nmea, config) as feed, SurveyWriter(tmp_path) as writer:
        pipeline = SurveyPipeline(writer, anonymizer, detector, config, "stop")
        stats = run_survey(feed, pipeline, SurveyHooks(should_stop=lambda: pipeline.stats.matched >= stop_after))
    records = read_records(tmp_path)
    kept = stats.matched - sum(stats.quality_rejected.values()) - stats.anonymization_dropped
    assert stop_after <= stats.matched < stats.marks and stats.written == kept == len(records) > 0
    assert [r.sequence for r in records] == sorted(r.sequence for r in records)
    assert not [t for t in threading.enumerate() if t.name in ("survey-finish", "survey-decode")]


def test_a_frame_that_cannot_be_anonymized_is_dropped_and_counted(drive, tmp_path: Path) -> None:
    # 1280x720 frames are over this anonymizer's size limit: it refuses every one (fail closed).
    refusing = Anonymizer.default(AnonymizerOptions(max_frame_side=1000))
    config = SurveyConfig(survey_id="refused", overlap=True)
    result = survey_video(drive.video, drive.nmea, tmp_path, refusing, None, config, progress=False)
    refusing.close()
    stats = result.stats
    assert stats.written == 0 and not read_records(tmp_path) and not list((tmp_path / "images").iterdir())
    assert stats.anonymization_dropped == stats.matched - sum(stats.quality_rejected.values()) > 40
