# Two entry points for humans and CI: `make demo` and `make test`.
# Each creates the virtual environment it needs (.venv) on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## demo: train a small char-LM briefly (offline: Python stdlib source), export it, print a sample
## (a GRU 256, 450 steps of 64 x 64 characters at a high learning rate, decayed over the second half:
## docs/commands.md#make-demo-and-make-test)
DEMO_MODEL := --cell gru --units 256 --layers 1 --seq-len 64 --learning-rate 1e-2 --clipnorm 1
demo: $(VENV)/.installed
	$(PY) train.py --task charlm $(DEMO_MODEL) --epochs 3 --steps-per-epoch 150 --anneal 0.5 --validation-batches 20 --fresh
	$(PY) export.py --task charlm

## app: the page in the browser over the exported models (make demo's char-LM): http://127.0.0.1:8080/
app: $(VENV)/.installed
	$(PY) -m keras_rnn.app --models saved_models

## lint: ruff's linter and formatter check (configured in pyproject.toml)
lint: $(VENV)/.installed
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## test: the linter, then the test suite, one pytest worker per core (a file's tests stay together,
## so its module fixtures are built once; most tests drive one core, so two workers halve the time)
test: lint
	$(PY) -m pytest -q -n auto --dist loadfile

bench-install: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[test,bench]"

## benchmarks (long; results in benchmarks/results/*.json, quoted in the README)
JV := ../shared/data/japanese-vowels
bench: bench-install
	$(PY) benchmarks/gpu_check.py
	$(PY) benchmarks/charlm_speed.py --chars 1000 --repeats 7
	$(PY) benchmarks/step_probe.py --repeats 5
	$(PY) benchmarks/charlm_quality.py --minutes 60
	$(PY) benchmarks/charlm_quantization.py --epochs 4
	$(PY) benchmarks/translate_quality.py --epochs 30 --units 128 --parallel
	$(PY) benchmarks/translate_vs_tutorial.py --pairs-file ../shared/data/bible-en-es/train.tsv \
		--validation-file ../shared/data/bible-en-es/valid.tsv --name bible_en_es --minutes 45 --no-tutorial \
		--variant bahdanau="--attention bahdanau --max-source-len 64 --max-target-len 96" \
		--variant none="--attention none --max-source-len 64 --max-target-len 96"
	$(PY) benchmarks/translate_speed.py --epochs 3 --sentences 128 --repeats 3
	$(PY) benchmarks/detok_roundtrip.py
	$(PY) benchmarks/translate_vs_tutorial.py --minutes 10
	$(PY) benchmarks/translate_vs_tutorial.py --minutes 30 --name fra_eng_30min
	$(PY) benchmarks/translate_vs_tutorial.py --minutes 10 --no-tutorial --name fra_eng_attention \
		--variant bahdanau="--attention bahdanau" --variant none="--attention none"
	taskset -c 1 $(PY) benchmarks/translate_train_speed.py --steps 30 --repeats 3 \
		--variant cross="" --variant cross_w1="--bucket-width 1" --variant cross_w0="--bucket-width 0" \
		--variant bahdanau="--attention bahdanau" --variant none="--attention none" \
		--variant cross_bf16="--precision mixed_bfloat16"
	$(PY) benchmarks/translate_vs_tutorial.py --minutes 10 --no-tutorial --name fra_eng_buckets \
		--variant w0="--bucket-width 0" --variant w4="--bucket-width 4"
	$(PY) benchmarks/esn_mackey_glass.py --runs 20 --units 1000 --length 21000 --no-reservoirpy
	for n in 500 1000; do $(PY) benchmarks/esn_mackey_glass.py --runs 10 --units $$n --length 11000 \
		--precision float64 --tag vs_reservoirpy_float64_$$n; done
	$(PY) benchmarks/esn_mackey_glass.py --runs 5 --units 2000 --length 11000 --precision float64 \
		--tag vs_reservoirpy_float64_2000
	$(PY) benchmarks/esn_mackey_glass.py --runs 10 --units 500 --length 11000 --precision float32 --tag vs_reservoirpy_500
	$(PY) benchmarks/esn_mackey_glass.py --runs 10 --units 1000 --length 11000 --precision float32 --tag vs_reservoirpy
	$(PY) benchmarks/esn_mackey_glass.py --runs 10 --units 2000 --length 11000 --precision float32 --tag vs_reservoirpy_2000
	$(PY) benchmarks/esn_frequency.py --runs 5 --units 500 --alpha 1e-4 --input-scaling 1
	$(PY) benchmarks/caption_quality.py --minutes 12 --parallel
	$(PY) benchmarks/classify_select.py esn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 5 \
		--name classify_select_esn --both-ways --joint --committee 1 3 5 8 --alpha 1 3 10
	for p in 2 4 5; do $(PY) benchmarks/classify_select.py esn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 5 \
		--name classify_select_esn_points$$p --points $$p --pooling mean+points points --alpha 1 3 10; done
	$(PY) benchmarks/classify_select.py esn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 5 --name classify_select_esn_small \
		--units 10 --connectivity 1 --input-scaling 0.25 1 --committee 1 10 30 --joint --alpha 0.1 1
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_warp_noise --candidate warp3="--warp 0.3" --candidate noise10="--noise 1.0"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round3 --candidate lstm="--cell lstm" --candidate batch16="--batch-size 16" \
		--candidate lr5="--learning-rate 5e-3" --candidate units32="--units 32"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 4 \
		--name classify_select_rnn_rate --candidate defaults="" --candidate rate5e-3="--learning-rate 5e-3"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round4 --candidate rate1e-2="--learning-rate 1e-2" --candidate points="--pooling points"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 --first-repeat 2 \
		--name classify_select_rnn_round4b --candidate defaults="" --candidate points="--pooling points"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round5 --candidate meanpoints="--pooling mean+points"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round6 --candidate ema="--ema 0.99" --candidate dropout5="--dropout 0.5"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round7 --candidate decay01="--weight-decay 0.1" --candidate decay1="--weight-decay 1.0"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round8 --candidate crop2="--crop 0.2" --candidate crop35="--crop 0.35"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round9 --candidate units128="--units 128" --candidate units256="--units 256"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round10 --candidate epochs200="--epochs 200" --candidate batch64="--batch-size 64"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 --first-repeat 2 \
		--name classify_select_rnn_round10b --candidate batch64="--batch-size 64"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round11 --candidate all="--validation-share 0" --candidate committee3="--committee 3"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round12 --candidate smooth1="--label-smoothing 0.1" --candidate smooth2="--label-smoothing 0.2"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 --first-repeat 2 \
		--name classify_select_rnn_round12b --candidate smooth2="--label-smoothing 0.2"
	$(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 2 \
		--name classify_select_rnn_round14 --candidate smooth3="--label-smoothing 0.3"
	for r in 2 3; do $(PY) benchmarks/classify_select.py rnn --train $(JV)/JapaneseVowels_TRAIN.ts --repeats 1 \
		--first-repeat $$r --name classify_select_rnn_round14_split$$r --candidate smooth3="--label-smoothing 0.3"; done
	$(PY) benchmarks/classify_peers.py --train $(JV)/JapaneseVowels_TRAIN.ts --test $(JV)/JapaneseVowels_TEST.ts --seeds 10
	$(PY) benchmarks/classify_japanese_vowels.py --seeds 10 --train $(JV)/JapaneseVowels_TRAIN.ts \
		--test $(JV)/JapaneseVowels_TEST.ts
	$(PY) benchmarks/classify_japanese_vowels.py --seeds 10 --train $(JV)/JapaneseVowels_TRAIN.ts \
		--test $(JV)/JapaneseVowels_TEST.ts --variant esn_committee3="--model esn --reservoirs 3" --peers \
		--name classify_japanese_vowels_esn_committee
	nice $(PY) benchmarks/tag_punctuation.py --text ../shared/data/bible-en-es/train.tsv --minutes 8

.PHONY: install demo app lint test bench-install bench
