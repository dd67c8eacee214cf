#!/usr/bin/env bash
# The tour (make tour): fills the queues of `make run` (examples/local.yaml:
# 4 instances, a FIFO queue "default", a fair-share queue "shared" with the
# shares research, weight 1, and prod, weight 0.25) with runs of
# examples/train.py, so that waiting, fair share, a priority update, a retry
# that resumes from its checkpoint and `watch` all have something to show,
# then says what to look at. It returns at once; the jobs run for a few
# minutes.
#
# Environment: SAGEQUEUE_ENDPOINT (the server, default http://127.0.0.1:8642),
# SQ (the CLI, default bin/sagequeue), TOUR_STEP_SECONDS (how long each
# training step sleeps, default 0.5: each job then takes about 30 seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

SQ=${SQ:-bin/sagequeue}
STEP=${TOUR_STEP_SECONDS:-0.5}
endpoint=${SAGEQUEUE_ENDPOINT:-http://127.0.0.1:8642}
tag=$(date +%H%M%S)   # names stay apart when the tour runs again

if ! "$SQ" queue describe shared >/dev/null; then
	echo >&2
	echo "The tour needs the server of 'make run' (examples/local.yaml) at $endpoint." >&2
	echo "Start it in another terminal with: make run" >&2
	exit 1
fi

train=(-- python3 examples/train.py)
hp=(--hyperparameter "step-seconds=$STEP" --hyperparameter epochs=3)

# The workstation is disabled while the queues fill, so that the first
# scheduling pass sees every share (else the first jobs submitted take every
# instance, and fair share shows only as they finish).
echo "== Holding the workstation while the queues fill (env update --state DISABLED)"
"$SQ" env update workstation --state DISABLED >/dev/null
trap '"$SQ" env update workstation --state ENABLED >/dev/null' EXIT

echo "== Fair share: 6 prod jobs and 6 research jobs (a learning-rate sweep) on 4 instances"
"$SQ" submit -q shared --share prod -n "tour-$tag-prod-{i}" --count 6 "${hp[@]}" "${train[@]}" >/dev/null
"$SQ" submit -q shared --share research -n "tour-$tag-lr-{lr}" \
	--hyperparameter 'lr={0.2,0.1,0.05,0.02,0.01,0.005}' "${hp[@]}" "${train[@]}" >/dev/null

echo "== A priority update: a late research job goes to the front of its share's line"
late=$("$SQ" submit -q shared --share research -n "tour-$tag-late" "${hp[@]}" "${train[@]}")
"$SQ" update "$late" --priority 100

echo "== A retry that resumes: a job stopped by its 8-second timeout is tried again and"
echo "   goes on from its checkpoint (train.py saves one on SIGTERM)"
resume=$("$SQ" submit -q default -n "tour-$tag-resume" --timeout 8s --attempts 3 \
	--retry-on 'Job attempt duration exceeded timeout' --checkpoint-uri "s3://tour/$tag/resume" \
	--hyperparameter "step-seconds=$STEP" --hyperparameter epochs=1 "${train[@]}")

echo "== Releasing the workstation"
"$SQ" env update workstation --state ENABLED >/dev/null
trap - EXIT
sleep 2 # a pass or two
echo
"$SQ" watch shared --iterations 1
cat <<EOF

What to look at while the jobs run (a few minutes):

  # live: who runs, who waits, usage per share (q quits)
  $SQ watch shared
  # the front of the queue, share by share: tour-$tag-late leads research's line
  $SQ snapshot shared
  # a loss curve
  $SQ logs -f $late
  # both attempts of the job stopped by its timeout; the second resumes from the checkpoint
  $SQ logs --exit-status $resume
  # the dashboard: queues, shares, each job's timeline and log
  ${endpoint}/

prod's weight is 0.25 and research's 1: a lower weight means more capacity,
so while both have jobs waiting prod holds 3 of the 4 instances and
research 1. The default queue has the higher priority (10 against 5): its
resume job takes an instance before either share.
EOF
