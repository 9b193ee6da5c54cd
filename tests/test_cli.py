"""The main job: `nasxfer` prints the summary and the random-agent floor."""

from nasxfer.__main__ import main


def test_main_job_prints_summary_and_random_floor(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--episodes", "5"]) == 0
    out = capsys.readouterr().out
    for task in ("class_object", "room_layout", "autoencoder", "segmentsemantic"):
        assert out.count(task) == 2
    assert "random agent, 5 episodes" in out and "gamma (paper, default)" in out and "gamma (sweep, auto)" in out


def test_main_job_reports_bad_input_without_a_traceback(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "--tasks", "imagenet"]) == 2
    assert "unknown task of transnas-bench-101 'imagenet'" in capsys.readouterr().err
