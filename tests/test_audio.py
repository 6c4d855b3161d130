"""Audio building blocks: mu-law, WAV files, resampling, log-mel spectrogram and
the spoken-digit folder loader, each against the formula."""
import math
import wave

import numpy as np
import pytest

from pyengine.datasets import audio


def sine(freq, rate, seconds=1.0, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)


def peak_frequency(x, rate):
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spectrum) * rate / len(x)


# ---- mu-law --------------------------------------------------------------------------------
def test_mu_law_round_trip_error_is_within_half_a_level():
    x = np.linspace(-1, 1, 20001)
    codes = audio.mu_law_encode(x)
    assert codes.dtype == np.uint8 and codes.min() == 0 and codes.max() == 255
    # Half a level (1/mu in the companded domain) times the slope of the expander,
    # ln(1+mu)/mu (1 + mu|x|), taken at the far end of the level.
    mu = 255
    bound = math.log1p(mu) / mu * (1 + mu * np.abs(x)) / mu * (1 + mu) ** (1 / mu)
    assert np.all(np.abs(audio.mu_law_decode(codes) - x) <= bound + 1e-12)


def test_mu_law_levels_decode_and_encode_back_exactly():
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(audio.mu_law_encode(audio.mu_law_decode(codes)), codes)
    assert audio.mu_law_decode(np.array([0, 255])).tolist() == [-1.0, 1.0]
    np.testing.assert_array_equal(audio.mu_law_encode(np.array([-3.0, 3.0])), [0, 255])  # clipped


# ---- pre-emphasis --------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.5, 0.9, -0.3])
def test_pre_emphasis_is_the_first_order_difference_and_de_emphasis_undoes_it(rng, alpha):
    x = rng.uniform(-0.5, 0.5, (3, 101))
    y = audio.pre_emphasis(x, alpha)
    np.testing.assert_allclose(y[:, 0], x[:, 0], rtol=1e-6)
    np.testing.assert_allclose(y[:, 1:], x[:, 1:] - alpha * x[:, :-1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(audio.de_emphasis(y, alpha), x, rtol=1e-5, atol=1e-6)
    for f in (audio.pre_emphasis, audio.de_emphasis):
        assert f(np.zeros((2, 0)), alpha).shape == (2, 0)
    with pytest.raises(ValueError, match="de_emphasis: alpha must be in"):
        audio.de_emphasis(y, 1.0)
    with pytest.raises(ValueError, match=r"pre_emphasis: the signal needs a time axis .* shape \(\)"):
        audio.pre_emphasis(np.float32(0.5), alpha)
    with pytest.raises(ValueError, match="pre_emphasis: alpha must be in"):
        audio.pre_emphasis(x, float("nan"))
    with pytest.raises(TypeError, match="de_emphasis: alpha must be a real number, got ndarray"):
        audio.de_emphasis(y, np.array([alpha, alpha]))


def test_de_emphasis_lowers_the_top_of_the_band_by_the_filter_gain():
    rate = 8000
    low, high = sine(100, rate), sine(3900, rate)
    # |1 / (1 - a e^(-iw))| at w = 2 pi f / rate: the one-pole low-pass's gain
    gain = lambda f: 1 / abs(1 - 0.9 * np.exp(-2j * np.pi * f / rate))
    for x, f in ((low, 100), (high, 3900)):
        y = audio.de_emphasis(x, 0.9)[rate // 2:]  # past the filter's start-up
        assert np.abs(y).max() / 0.5 == pytest.approx(gain(f), rel=0.01)


# ---- WAV files ------------------------------------------------------------------------------
def test_wav_write_read_round_trip(tmp_path, rng):
    x = np.clip(rng.standard_normal(1001) * 0.3, -1, 1).astype(np.float32)
    path = str(tmp_path / "noise.wav")
    audio.write_wav(path, x, 11025)
    y, rate = audio.read_wav(path)
    assert rate == 11025 and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=1.5 / 32768)  # rounding to 16 bits, 32767 vs 32768 scale
    with wave.open(path) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
    assert [p.name for p in tmp_path.iterdir()] == ["noise.wav"]


def test_read_wav_mixes_stereo_and_refuses_8_bit(tmp_path):
    stereo = str(tmp_path / "stereo.wav")
    with wave.open(stereo, "wb") as w:
        w.setparams((2, 2, 8000, 0, "NONE", "not compressed"))
        w.writeframes(np.array([1000, 3000, -2000, 0], "<i2").tobytes())
    y, _ = audio.read_wav(stereo)
    np.testing.assert_allclose(y, np.array([2000, -1000]) / 32768)
    narrow = str(tmp_path / "narrow.wav")
    with wave.open(narrow, "wb") as w:
        w.setparams((1, 1, 8000, 0, "NONE", "not compressed"))
        w.writeframes(bytes([128, 130]))
    with pytest.raises(ValueError, match="narrow.wav: expected 16-bit samples, the file has 8-bit"):
        audio.read_wav(narrow)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match=r"truncated.wav: not a readable WAV file \(the file ends early\)"):
        audio.read_wav(str(truncated))


def test_write_wav_refuses_a_non_mono_array(tmp_path):
    with pytest.raises(ValueError, match=r"write_wav: expected a 1-D mono waveform, got shape \(2, 3\)"):
        audio.write_wav(str(tmp_path / "x.wav"), np.zeros((2, 3)), 8000)


# ---- resampling -------------------------------------------------------------------------------
@pytest.mark.parametrize("orig, new, freq", [(22050, 8000, 440), (16000, 8000, 1000), (8000, 16000, 700),
                                             (44100, 8000, 3001)])
def test_resampling_a_sine_keeps_its_frequency(orig, new, freq):
    y = audio.resample(sine(freq, orig), orig, new)
    assert len(y) == math.ceil(orig * new / orig)
    assert abs(peak_frequency(y, new) - freq) <= 1.0  # 1 s of signal: 1 Hz bins
    expected = sine(freq, new)[:len(y)]
    edge = new // 50  # the filter sees the zero padding near the ends
    assert np.abs(y[edge:-edge] - expected[edge:-edge]).max() < 2e-3


def test_resampling_removes_tones_above_the_new_nyquist_frequency():
    y = audio.resample(sine(6000, 22050), 22050, 8000)  # 6 kHz would alias to 2 kHz
    assert np.abs(y[200:-200]).max() < 1e-3


def test_resample_same_rate_and_empty():
    x = np.arange(5, dtype=np.float64)
    np.testing.assert_array_equal(audio.resample(x, 8000, 8000), x)
    assert audio.resample(np.zeros(0), 16000, 8000).shape == (0,)


# ---- log-mel spectrogram ----------------------------------------------------------------------
def reference_log_mel(x, rate, n_fft, hop, n_mels, floor):
    """From the definitions: frames by loop, a DFT matrix, triangles on mel-spaced centres."""
    frames = 1 + max(0, math.ceil((len(x) - n_fft) / hop))
    framed = np.zeros((frames, n_fft))
    for f in range(frames):
        chunk = x[f * hop:f * hop + n_fft]
        framed[f, :len(chunk)] = chunk
    n = np.arange(n_fft)
    window = np.sin(np.pi * n / n_fft) ** 2  # the periodic Hann window
    k = np.arange(n_fft // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(k, n) / n_fft)
    power = np.abs(np.einsum("kn,fn->fk", dft, framed * window)) ** 2
    mel = lambda f: 1127.0 * np.log(1 + f / 700.0)  # = 2595 log10(1 + f/700)
    centres_mel = np.linspace(0, mel(rate / 2), n_mels + 2)
    centres = 700.0 * (np.exp(centres_mel / 1127.0) - 1)
    bank = np.zeros((n_mels, len(k)))
    for m in range(n_mels):
        lo, mid, hi = centres[m], centres[m + 1], centres[m + 2]
        for j, hz in enumerate(k * rate / n_fft):
            if lo < hz <= mid:
                bank[m, j] = (hz - lo) / (mid - lo)
            elif mid < hz < hi:
                bank[m, j] = (hi - hz) / (hi - mid)
    return np.log(np.maximum(np.einsum("fk,mk->fm", power, bank), floor))


@pytest.mark.parametrize("length, n_fft, hop, n_mels", [(4001, 256, 80, 40), (97, 128, 64, 13), (300, 64, 17, 8)])
def test_log_mel_matches_the_definition(rng, length, n_fft, hop, n_mels):
    x = rng.standard_normal(length) * 0.1
    got = audio.log_mel_spectrogram(x, 8000, n_fft, hop, n_mels)
    want = reference_log_mel(x, 8000, n_fft, hop, n_mels, 1e-10)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


def test_log_mel_of_silence_is_the_floor_and_a_tone_lights_its_band():
    assert np.all(audio.log_mel_spectrogram(np.zeros(800), floor=1e-6) == np.float32(math.log(1e-6)))
    energies = audio.log_mel_spectrogram(sine(1000, 8000)).mean(axis=0)
    centres = audio.mel_to_hz(np.linspace(0, audio.hz_to_mel(4000), 42))[1:-1]
    assert abs(centres[np.argmax(energies)] - 1000) < 100


# ---- the spoken-digit folder ------------------------------------------------------------------
def test_wav_folder_loads_good_files_and_skips_bad_ones(tmp_path):
    for label, speaker, index, rate in [(3, "jackson", 0, 8000), (0, "theo", 12, 16000), (3, "jackson", 1, 8000)]:
        audio.write_wav(str(tmp_path / f"{label}_{speaker}_{index}.wav"), sine(300 + 100 * label, rate, 0.25), rate)
    (tmp_path / "7_nicolas_4.wav").write_bytes(b"RIFF\x00\x00not really a wave file")
    audio.write_wav(str(tmp_path / "7_nicolas_5.wav"), np.zeros(0), 8000)
    audio.write_wav(str(tmp_path / "seven.wav"), sine(300, 8000, 0.1), 8000)
    (tmp_path / "README.txt").write_text("not audio")
    with pytest.warns(UserWarning) as caught:
        folder = audio.load_wav_folder(str(tmp_path))
    assert [(r.label, r.speaker, r.index) for r in folder.recordings] == [("0", "theo", 12), ("3", "jackson", 0),
                                                                        ("3", "jackson", 1)]
    assert all(r.sample_rate == 8000 and len(r.samples) == 2000 for r in folder.recordings)
    assert abs(peak_frequency(folder.recordings[0].samples, 8000) - 300) <= 4  # resampled from 16 kHz
    skipped = sorted(p.rsplit("/", 1)[-1] for p, _ in folder.skipped)
    assert skipped == ["7_nicolas_4.wav", "7_nicolas_5.wav", "seven.wav"]
    assert len(caught) == 3 and all("load_wav_folder: skipping" in str(w.message) for w in caught)


def test_wav_folder_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        audio.load_wav_folder(str(tmp_path / "missing"))
