"""The memorisation check and the publication guard (radgazegen.metrics.memorisation), on synthetic cases
whose answer is known: copies of training images are caught, fresh samples are not."""
from __future__ import annotations

import numpy as np
import pytest

from radgazegen.metrics import memorisation as mem


def population(rng, n, d=16):
    return rng.normal(size=(n, d))


def test_copies_are_caught_and_fresh_samples_are_not():
    rng = np.random.default_rng(0)
    train, test = population(rng, 200), population(rng, 200)
    copies = train[rng.integers(0, 200, 100)] + rng.normal(0, 0.01, (100, 16))
    fresh = population(rng, 100)
    caught = mem.memorisation_check(copies, train, test, "toy features")
    assert caught.copy_rate == 1.0 and caught.p_value < 1e-10 and caught.interval[0] > 0.9
    clean = mem.memorisation_check(fresh, train, test, "toy features")
    # images like the held-out ones fall under the 5th percentile of test-to-train distances about 5 % of the time
    assert clean.copy_rate <= 0.12 and clean.interval[0] <= 0.05 <= clean.interval[1] and clean.p_value > 0.01
    assert clean.expected_rate == pytest.approx(0.05, abs=0.01)
    s = caught.summary()
    assert s["n_copies"] == 100 and s["space"] == "toy features" and s["generated_median"] < s["test_median"]


def test_nearest_and_leave_one_out_by_hand():
    ref = np.array([[0.0], [1.0], [5.0], [5.0]])  # a duplicate pair: each is the other's neighbour at 0
    dist, index = mem.leave_one_out_nearest(ref)
    assert dist.tolist() == [1.0, 1.0, 0.0, 0.0] and index.tolist() == [1, 0, 3, 2]
    dist, index = mem.nearest(np.array([[0.2], [4.0]]), ref)
    assert dist == pytest.approx([0.2, 1.0]) and index[0] == 0 and index[1] in (2, 3)


def test_closest_pairs_and_flagged_names():
    check = mem.MemorisationCheck("toy", generated=np.array([0.5, 0.01, 3.0, 0.02]), nearest_training=np.array([7, 2, 1, 4]),
                                  training=np.ones(8), test=np.linspace(0.1, 2.0, 20), percentile=5.0, threshold=0.1)
    assert check.closest_pairs(2).tolist() == [[1, 2], [3, 4]]
    assert check.flagged(["a.png", "b.png", "c.png", "d.png"]) == ["b.png", "d.png"]
    assert check.copy_rate == 0.5 and check.n_copies == 2


def test_pixel_vectors_distance_is_one_minus_correlation():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    darker = (img // 2 + 10).astype(np.uint8)  # the same image, other brightness and contrast
    other = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    v = mem.pixel_vectors(np.stack([img, darker, other]), size=16)
    assert v.shape == (3, 256)
    assert np.linalg.norm(v[0] - v[1]) < 0.1  # a copy up to brightness
    r = np.corrcoef(v[0], v[2])[0, 1]
    assert np.linalg.norm(v[0] - v[2]) == pytest.approx(np.sqrt(2 * (1 - r)), rel=1e-6)
    assert mem.pixel_vectors(np.full((1, 8, 8), 9, np.uint8), size=8).tolist() == [[0.0] * 64]


def test_pixel_space_catches_copied_images():
    rng = np.random.default_rng(2)
    train = rng.integers(0, 256, (60, 32, 32)).astype(np.uint8)
    test = rng.integers(0, 256, (60, 32, 32)).astype(np.uint8)
    copied = np.clip(train[:20].astype(int) + rng.integers(-5, 6, (20, 32, 32)), 0, 255).astype(np.uint8)
    check = mem.memorisation_check(mem.pixel_vectors(copied), mem.pixel_vectors(train), mem.pixel_vectors(test), "pixels")
    assert check.copy_rate == 1.0 and check.nearest_training.tolist() == list(range(20))


def test_reidentification_above_chance_only_when_patients_are_copied():
    rng = np.random.default_rng(3)
    n_patients, per = 20, 5
    centres = rng.normal(0, 3, (n_patients, 8))
    patients = np.repeat(np.arange(n_patients), per)
    train = centres[patients] + rng.normal(0, 0.5, (n_patients * per, 8))
    prompt_patients = np.arange(n_patients).repeat(2)
    like_patient = centres[prompt_patients] + rng.normal(0, 0.5, (len(prompt_patients), 8))
    result = mem.reidentification(train, patients, like_patient, prompt_patients)
    assert result.chance == pytest.approx(1 / n_patients) and result.n_patients == n_patients
    assert result.rate > 0.8 and result.above_chance and result.p_value < 1e-10
    anonymous = rng.normal(0, 3, (len(prompt_patients), 8))  # images that carry no patient
    blind = mem.reidentification(train, patients, anonymous, prompt_patients)
    assert not blind.above_chance and blind.low <= blind.chance
    with pytest.raises(ValueError, match="not among the training patients"):
        mem.reidentification(train, patients, anonymous[:1], ["someone else"])


def test_publication_guard_names_the_images_and_respects_opt_in():
    names = ["gen_0003.png", "gen_0017.png"]
    with pytest.raises(mem.MemorisationError, match="gen_0003.png, gen_0017.png") as err:
        mem.publication_guard(0.02, flagged_names=names)  # default threshold: any near-copy
    assert "copy rate 2.0% > threshold 0.0%" in str(err.value)
    assert mem.publication_guard(0.02, flagged_names=names, opt_in=True) is None
    assert mem.publication_guard(0.02, threshold=0.05, flagged_names=names) is None
    assert mem.publication_guard(0.0) is None
    with pytest.raises(mem.MemorisationError, match="set allow_copies: true"):
        mem.publication_guard(0.5, 0.1, names, opt_in_hint="set allow_copies: true")
    with pytest.raises(ValueError, match="shares in"):
        mem.publication_guard(5.0)


def test_the_guard_fails_on_a_copying_method_and_the_full_book_respects_it(tmp_path):
    """Chapter 15's verdict: a method whose images copy training images fails the guard (names
    them), one drawing new images passes; the full book build refuses a failed or missing record
    unless the user opted in (a tiny run's results folder)."""
    import json

    from radgazegen.study.publish import memorisation_guard
    from radgazegen.study.runner import RunnerError

    rng = np.random.default_rng(1)
    train_im = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    test_im = rng.integers(0, 256, (60, 32, 32), dtype=np.uint8)
    spaces = mem.spaces(lambda x: x.reshape(len(x), -1)[:, ::16].astype(float), train_im, test_im)
    copying = train_im[:20]
    fresh = rng.integers(0, 256, (20, 32, 32), dtype=np.uint8)
    checks = {"copier": mem.check_images(copying, spaces), "fresh": mem.check_images(fresh, spaces)}
    table = mem.checks_table(checks)
    assert table.loc[("copier", "pixels"), "copy rate"] == 1.0 and table.loc[("fresh", "pixels"), "p-value"] > 0.05
    verdict = mem.guard_verdict(checks, 0.05)
    assert verdict["failed"] and "copier[0]" in verdict["flagged"] and not any(f.startswith("fresh") for f in verdict["flagged"])
    assert not mem.guard_verdict({"fresh": checks["fresh"]}, 0.05)["failed"]

    record = tmp_path / "results" / "memorisation.json"
    with pytest.raises(RunnerError, match="missing; run chapter 15"):
        memorisation_guard(record)
    record.parent.mkdir()
    record.write_text(json.dumps({**verdict, "allowed": False}))
    with pytest.raises(RunnerError, match=r"memorisation\.json: .*copier\[0\]"):
        memorisation_guard(record)
    record.write_text(json.dumps({**verdict, "allowed": True}))
    memorisation_guard(record)  # the user's opt-in
    record.write_text(json.dumps({**mem.guard_verdict({"fresh": checks["fresh"]}), "allowed": False}))
    memorisation_guard(record)


def test_the_positive_controls_reading_names_what_the_check_can_say():
    from radgazegen.metrics.memorisation import positive_control_reading

    assert "says nothing" in positive_control_reading(False, False, "smoke")
    assert "can be read" in positive_control_reading(True, True, "lesson")
    told = positive_control_reading(True, False, "lesson")
    assert "flags the copier" in told and "not a demonstration" in told


def test_the_vae_round_trip_is_grey_uint8_deterministic_and_independent_of_the_batch(tmp_path):
    import torch

    from radgazegen.models import sd_parts, vae_round_trip

    torch.manual_seed(0)
    parts = sd_parts("tiny", tmp_path / "tokenizer", resolution=32)
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    out = vae_round_trip(parts, images, batch_size=2)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(out, vae_round_trip(parts, images, batch_size=5))  # the latents' means: no sampling
    assert not np.array_equal(out, images)  # it is the decoder's image, not the input passed through
