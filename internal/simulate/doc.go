// Package simulate is `sagequeue simulate`: it replays a trace of jobs
// through the production scheduler (sched.Plan, run by sched/sim on a
// virtual clock) under a configuration file in the format `sagequeue serve
// --config` reads, and reports utilization, waits, fair-share accuracy and
// the use of capacity over time as a table, JSON or a self-contained HTML
// page. It runs on the client: it needs no server, and imports none of the
// server's packages.
package simulate
