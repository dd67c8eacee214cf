package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"
	"github.com/aws/aws-sdk-go-v2/service/batch/types"
	"github.com/spf13/cobra"
)

// completionTimeout bounds the requests a completion makes: a shell that
// waits longer for a Tab than this feels broken.
const completionTimeout = 3 * time.Second

// completionJobs is how many of the newest jobs job id completion offers
// (one ListServiceJobs page).
const completionJobs = 100

func newCompletionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print a shell completion script",
		Long: `Print the completion script of a shell. Besides commands and flags, it
completes queue, environment and policy names and job ids by asking the
server (--endpoint) as you type, with a short timeout.

  bash:       source <(sagequeue completion bash)
              # for every new shell (needs the bash-completion package):
              sagequeue completion bash > /etc/bash_completion.d/sagequeue
  zsh:        sagequeue completion zsh > "${fpath[1]}/_sagequeue"
              # (with "autoload -U compinit; compinit" in ~/.zshrc)
  fish:       sagequeue completion fish > ~/.config/fish/completions/sagequeue.fish
  powershell: sagequeue completion powershell | Out-String | Invoke-Expression`,
		Example:               `  source <(sagequeue completion bash)`,
		Args:                  cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs),
		ValidArgs:             []string{"bash", "zsh", "fish", "powershell"},
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			default:
				return root.GenPowerShellCompletionWithDesc(w)
			}
		},
	}
}

// addCompletions adds the completion command and the dynamic completions
// of arguments and flags to a root command, after every command has been
// registered: it finds the commands by their paths, so their own files
// need not know about completion.
func (a *App) addCompletions(root *cobra.Command) {
	root.AddCommand(newCompletionCmd(root))
	if !completing(a.args) {
		// Only the shell's completion requests use them; finding the
		// commands and registering them is a fortieth of a submit's CPU.
		return
	}
	find := func(path ...string) *cobra.Command {
		c, _, err := root.Find(path)
		if err != nil || c == root || c.Name() != path[len(path)-1] {
			return nil
		}
		return c
	}
	args := func(fn cobra.CompletionFunc, paths ...[]string) {
		for _, p := range paths {
			if c := find(p...); c != nil && c.ValidArgsFunction == nil {
				c.ValidArgsFunction = fn
			}
		}
	}
	flag := func(path []string, name string, fn cobra.CompletionFunc) {
		if c := find(path...); c != nil && c.Flags().Lookup(name) != nil {
			_ = c.RegisterFlagCompletionFunc(name, fn)
		}
	}
	fixed := func(values ...string) cobra.CompletionFunc {
		return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return withPrefix(values, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
	}

	one := func(fn cobra.CompletionFunc) cobra.CompletionFunc {
		return func(cmd *cobra.Command, done []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(done) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return fn(cmd, done, toComplete)
		}
	}
	args(one(a.completeQueues), []string{"snapshot"}, []string{"watch"}, []string{"queue", "update"}, []string{"queue", "delete"})
	args(a.completeQueues, []string{"queue", "describe"})
	args(one(a.completeEnvironments), []string{"env", "update"}, []string{"env", "delete"})
	args(a.completeEnvironments, []string{"env", "describe"})
	args(one(a.completePolicies), []string{"policy", "update"}, []string{"policy", "delete"})
	args(a.completePolicies, []string{"policy", "describe"})
	args(a.completeJobs(false), []string{"describe"})
	args(one(a.completeJobs(false)), []string{"logs"})
	args(a.completeJobs(true), []string{"terminate"})
	args(one(a.completeJobs(true)), []string{"update"})

	for _, p := range [][]string{{"submit"}, {"list"}} {
		flag(p, "queue", a.completeQueues)
	}
	for _, p := range [][]string{{"queue", "create"}, {"queue", "update"}} {
		flag(p, "policy", a.completePolicies)
		flag(p, "env", a.completeEnvironments)
		flag(p, "state", fixed("ENABLED", "DISABLED"))
	}
	for _, p := range [][]string{{"env", "create"}, {"env", "update"}} {
		flag(p, "state", fixed("ENABLED", "DISABLED"))
	}
	flag([]string{"list"}, "status", fixed(statusNames()...))
	flag([]string{"submit"}, "sweep", fixed("grid", "zip"))
	_ = root.RegisterFlagCompletionFunc("output", fixed("table", "json"))
	_ = root.RegisterFlagCompletionFunc("color", fixed("auto", "always", "never"))
}

// completing reports whether args ask for completions: cobra's hidden
// commands that the completion scripts run.
func completing(args []string) bool {
	for _, arg := range args {
		if arg == cobra.ShellCompRequestCmd || arg == cobra.ShellCompNoDescRequestCmd {
			return true
		}
	}
	return false
}

// completionClient is the Batch client for a completion, with its timeout.
func (a *App) completionClient(cmd *cobra.Command) (context.Context, context.CancelFunc, *batch.Client, bool) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	client, err := a.Batch(ctx)
	if err != nil {
		cancel()
		return nil, nil, nil, false
	}
	return ctx, cancel, client, true
}

// withPrefix keeps the completions that start with what is typed; the
// shells filter too, but fewer lines travel back.
func withPrefix(all []cobra.Completion, toComplete string) []cobra.Completion {
	var out []cobra.Completion
	for _, c := range all {
		if strings.HasPrefix(c, toComplete) {
			out = append(out, c)
		}
	}
	return out
}

func (a *App) completeQueues(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel, client, ok := a.completionClient(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	var out []cobra.Completion
	p := batch.NewDescribeJobQueuesPaginator(client, &batch.DescribeJobQueuesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, q := range page.JobQueues {
			desc := fmt.Sprintf("priority %d, %s", aws.ToInt32(q.Priority), strings.ToLower(string(q.State)))
			out = append(out, cobra.CompletionWithDesc(aws.ToString(q.JobQueueName), desc))
		}
	}
	return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

func (a *App) completeEnvironments(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel, client, ok := a.completionClient(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	var out []cobra.Completion
	p := batch.NewDescribeServiceEnvironmentsPaginator(client, &batch.DescribeServiceEnvironmentsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, e := range page.ServiceEnvironments {
			desc := strings.ToLower(string(e.State))
			for _, l := range e.CapacityLimits {
				desc = fmt.Sprintf("%d instances, %s", aws.ToInt32(l.MaxCapacity), desc)
			}
			out = append(out, cobra.CompletionWithDesc(aws.ToString(e.ServiceEnvironmentName), desc))
		}
	}
	return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

func (a *App) completePolicies(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx, cancel, client, ok := a.completionClient(cmd)
	if !ok {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer cancel()
	var out []cobra.Completion
	p := batch.NewListSchedulingPoliciesPaginator(client, &batch.ListSchedulingPoliciesInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			break
		}
		for _, sp := range page.SchedulingPolicies {
			out = append(out, nameFromARN(aws.ToString(sp.Arn)))
		}
	}
	return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
}

// completeJobs offers the newest jobs (unfinished ones only, for
// commands that act on those), described by name and status: one request,
// cheap at any backlog.
func (a *App) completeJobs(unfinished bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, done []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		ctx, cancel, client, ok := a.completionClient(cmd)
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer cancel()
		page, err := client.ListServiceJobs(ctx, &batch.ListServiceJobsInput{
			MaxResults: aws.Int32(completionJobs),
			Filters:    []types.KeyValuesPair{{Name: aws.String(filterAfterCreatedAt), Values: []string{"0"}}},
		})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		given := map[string]bool{}
		for _, id := range done {
			given[id] = true
		}
		var out []cobra.Completion
		for _, j := range page.JobSummaryList {
			id := aws.ToString(j.JobId)
			if given[id] || unfinished && (j.Status == types.ServiceJobStatusSucceeded || j.Status == types.ServiceJobStatusFailed) {
				continue
			}
			out = append(out, cobra.CompletionWithDesc(id, aws.ToString(j.JobName)+" "+string(j.Status)))
		}
		// Keep the shell's order: newest first.
		return withPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
	}
}
