#!/usr/bin/env bash
# Train the textures test model as a curriculum, short clips first (docs/textures_model.md, "Shorter
# clips are what the objects needed").
# Every stage is resumable: rerun this script and a stage that stopped (MAX_MINUTES, or a killed
# run) continues from its last checkpoint; a stage whose JSON says it finished is skipped.
#   RECIPE       motion-dct (default): the committed model (since 2026-12-05, chain K2). The motion
#                recipe's 32 px stage on the lossless latent (the direction named, word positions, the
#                objects' loss x5, 4 px a frame; STEPS32, default 8000, stopped at STOP32, default
#                6000), then the DCT latent at 64 px: three 4-frame stages (STEPSX4A 2000, STEPSX4B
#                1500, both at lr 5e-4; STEPSX4C 2000 at lr 1e-3) and two 8-frame ones (STEPSX8 1000,
#                then STEPSX8B 500, both at lr 5e-4) (docs/textures_model.md, "Chain K2: the committed
#                model within the 2-hour bound"). The model committed before it is STOP32=0
#                STEPSX8B=1500 (about 2 h 22 min). A DCT stage given 0 steps is left out: the next
#                starts from the one before.
#                dct: the model committed before that (bdb45e8), the DCT latent at 64 px from scratch in two stages
#                (4 frames, STEPS4 default 3000; 8 frames, STEPS8 default 2400); it did not move its objects.
#                motion: the lossless latent throughout, in three stages: 32 px, 4 frames from scratch
#                (STEPS32), then 64 px, 4 frames (STEPS4, default 1000; 2.4 s a step), then 64 px,
#                8 frames (STEPS8, default 500) (docs/textures_model.md, "The 32 px motion carried to
#                64 px and 8 frames").
#   STOP32       stop the 32 px stage at this step of its STEPS32 learning-rate schedule (default 6000
#                for motion-dct, 0 for motion: run it through); the next stage starts from its weights there
#   OUT_DIR      where the stages write (default out/curriculum; git-ignored)
#   THREADS      torch threads (default 2)
#   MAX_MINUTES  stop each stage (resumable) after this many minutes (default 0: no limit)
#   EXTRA_ARGS   more train.py flags for every stage (the tests use "--batch 2")
# Measured on two CPU cores, RECIPE=motion-dct with the defaults, end to end from the seed (2026-12-05):
# 43 min (32 px to step 6000, 0.43 s a step) + 61 min (the three 4-frame stages and the first 8-frame
# one, 0.47-1.01 s a step) + 8 min (the second 8-frame one, 0.99 s a step): 6,703 s, 1 h 52 min, and
# the committed weights bit for bit (tools/tiny_wan/same_weights.py); the script prints each stage's
# time and the sum at the end. The result is $OUT_DIR/x8b.safetensors (the last stage run, as the script prints,
# when stages are left out), with its JSON: copy both to
# models/tiny_wan21_t2v_textures.{safetensors,json} to ship it.
# RECIPE=dct: 24 min (0.47 s a step) + 43 min (1.07 s a step), result $OUT_DIR/f8.safetensors.
# RECIPE=motion: about 59 + 39 + 93 min (the 8-frame stage at about 11.2 s a step), result
# $OUT_DIR/f8.safetensors.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
cd "$REPO"
PY=${COMFYUI_PYTHON:-$REPO/.runtime/venv/bin/python}
OUT_DIR=${OUT_DIR:-out/curriculum}
RECIPE=${RECIPE:-motion-dct}
case "$RECIPE" in
    dct) STEPS4=${STEPS4:-3000}; STEPS8=${STEPS8:-2400} ;;
    motion) STEPS32=${STEPS32:-8000}; STEPS4=${STEPS4:-1000}; STEPS8=${STEPS8:-500} ;;
    motion-dct) STEPS32=${STEPS32:-8000}; STEPSX4A=${STEPSX4A:-2000}; STEPSX4B=${STEPSX4B:-1500}
                STEPSX4C=${STEPSX4C:-2000}; STEPSX8=${STEPSX8:-1000}; STEPSX8B=${STEPSX8B:-500}
                STOP32=${STOP32:-6000} ;;
    *) echo "curriculum: RECIPE=$RECIPE: must be dct, motion or motion-dct" >&2; exit 2 ;;
esac
THREADS=${THREADS:-2}
MAX_MINUTES=${MAX_MINUTES:-0}
read -r -a EXTRA <<< "${EXTRA_ARGS:-}"
mkdir -p "$OUT_DIR"
finished() {  # finished OUT [STOP]: its JSON records as many steps done as configured (or STOP, when 0 < STOP < steps)
    "$PY" -c 'import json, sys; m = json.load(open(sys.argv[1])); stop = int(sys.argv[2]); steps = m["config"]["steps"]
sys.exit(m["steps_done"] < (min(stop, steps) if stop > 0 else steps))' "${1%.safetensors}.json" "${2:-0}" 2>/dev/null
}
STOP=0   # a stage's --stop-at-step (0: none); set around the one stage that uses it
STAGES=()   # every stage of this chain, run or skipped as finished, for the summary at the end
stage() {  # stage OUT ARGS...: run train.py to OUT unless it finished; resume when a checkpoint exists
    local out=$1; shift
    STAGES+=("$out")
    if finished "$out" "$STOP"; then echo "curriculum: $out finished, stage skipped"; return; fi
    local resume=()
    if [ -f "${out%.safetensors}_resume.pt" ]; then resume=(--resume); fi
    "$PY" tools/tiny_wan/train.py --dataset textures --out "$out" --threads "$THREADS" \
        --max-minutes "$MAX_MINUTES" --stop-at-step "$STOP" "${resume[@]}" "${EXTRA[@]}" "$@"
    finished "$out" "$STOP" || { echo "curriculum: $out stopped early; rerun to continue"; exit 3; }
}
summary() {  # each stage's steps and training seconds from its JSON (resumed runs included), and the sum
    "$PY" - "${STAGES[@]}" <<'PY'
import json, sys
total = 0.0
for path in sys.argv[1:]:
    m = json.load(open(path.removesuffix(".safetensors") + ".json"))
    total += m["train_seconds"]
    print(f"curriculum: {path}: {m['steps_done']} steps in {m['train_seconds']:.0f} s")
print(f"curriculum: {total:.0f} s of training in all stages ({int(total // 3600)} h {round(total % 3600 / 60):02d} min)")
PY
}
MOTION_DATA=(--named-object-motion --direction-tint 0 --motion-tint 0.1 --trail-px 8 --object-speed 4 4
             --ordered-prompt --object-weight 4 --frame-noise-frac 0.25 --one-known-frac 0.5)
MOTION=(--latent lossless "${MOTION_DATA[@]}")
if [ "$RECIPE" != dct ]; then
    STOP=${STOP32:-0}   # stop the 32 px stage at this step of its STEPS32 schedule (0: run it through)
    stage "$OUT_DIR/s32.safetensors" --size 32 --frames 4 --steps "$STEPS32" "${MOTION[@]}" --ckpt-every 1000
    STOP=0
fi
if [ "$RECIPE" = motion-dct ]; then   # the body learned motion on the lossless latent; the DCT latent from here
    DCT=(--latent dct --size 64 "${MOTION_DATA[@]}")
    prev="$OUT_DIR/s32.safetensors"
    dct_stage() {  # dct_stage NAME STEPS ARGS...: a stage from the one before; 0 steps leaves it out
        local name=$1 steps=$2; shift 2
        if [ "$steps" = 0 ]; then echo "curriculum: $name left out (0 steps)"; return; fi
        stage "$OUT_DIR/$name.safetensors" --init "$prev" --steps "$steps" "$@" "${DCT[@]}"
        prev="$OUT_DIR/$name.safetensors"
    }
    dct_stage x4a "$STEPSX4A" --frames 4 --lr 0.0005 --warmup 50 --ckpt-every 500
    dct_stage x4b "$STEPSX4B" --frames 4 --lr 0.0005 --warmup 50 --ckpt-every 500
    dct_stage x4c "$STEPSX4C" --frames 4 --lr 0.001 --warmup 100 --ckpt-every 500
    dct_stage x8 "$STEPSX8" --frames 8 --lr 0.0005 --warmup 50 --ckpt-every 250
    dct_stage x8b "$STEPSX8B" --frames 8 --lr 0.0005 --warmup 50 --ckpt-every 500
    summary
    echo "curriculum: done, $prev"
    exit 0
fi
if [ "$RECIPE" = motion ]; then
    stage "$OUT_DIR/f4.safetensors" --init "$OUT_DIR/s32.safetensors" --size 64 --frames 4 --steps "$STEPS4" \
        --lr 0.0005 --warmup 50 "${MOTION[@]}" --ckpt-every 250
    stage "$OUT_DIR/f8.safetensors" --init "$OUT_DIR/f4.safetensors" --size 64 --frames 8 --steps "$STEPS8" \
        --lr 0.0005 --warmup 50 "${MOTION[@]}" --ckpt-every 250
    summary
    echo "curriculum: done, $OUT_DIR/f8.safetensors"
    exit 0
fi
stage "$OUT_DIR/f4.safetensors" --frames 4 --steps "$STEPS4" --frame-noise-frac 0.25 --one-known-frac 0.5 \
    --ckpt-every 1000
stage "$OUT_DIR/f8.safetensors" --init "$OUT_DIR/f4.safetensors" --frames 8 --steps "$STEPS8" --lr 0.0005 \
    --warmup 50 --frame-noise-frac 0.25 --one-known-frac 0.5 --ckpt-every 600
summary
echo "curriculum: done, $OUT_DIR/f8.safetensors"
