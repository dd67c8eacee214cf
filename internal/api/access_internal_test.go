package api

import "testing"

func TestActionKind(t *testing.T) {
	for op, want := range map[string]ActionKind{
		"submitservicejob": KindJob, "TerminateServiceJob": KindJob, "updateservicejob": KindJob,
		"describeservicejob": KindRead, "listservicejobs": KindRead, "getjobqueuesnapshot": KindRead,
		"searchservicejobs": KindRead, "getservicejoblogs": KindRead, "describequotashares": KindRead,
		"createjobqueue": KindConfig, "deleteserviceenvironment": KindConfig, "updateschedulingpolicy": KindConfig,
		// Operations added later are changes unless their names say they read.
		"createquotashare": KindConfig, "tagresource": KindConfig, "cancelsomething": KindConfig,
	} {
		if got := actionKind(op); got != want {
			t.Errorf("actionKind(%q) = %d, want %d", op, got, want)
		}
	}
	if got := operationName("submitservicejob"); got != "SubmitServiceJob" {
		t.Errorf("operationName = %q", got)
	}
}
