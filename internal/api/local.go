package api

import "github.com/sagequeue/sagequeue/internal/model"

// LocalEndpoint is what the local SageMaker endpoint of `sagequeue serve`
// can run: an entry point as a process always; an image only with a
// container runtime.
type LocalEndpoint struct {
	// Images means that a payload's AlgorithmSpecification.TrainingImage
	// runs in a container (serve --container-runtime).
	Images bool
}

// check refuses a payload the local endpoint has no way to run; a nil
// endpoint (the cloud) refuses nothing.
func (l *LocalEndpoint) check(tr model.TrainingRequest) error {
	const spec = "serviceRequestPayload.AlgorithmSpecification"
	switch {
	case l == nil, tr.Entrypoint, l.Images && tr.TrainingImage != "":
		return nil
	case tr.TrainingImage != "":
		return model.Invalidf(spec+".TrainingImage", "%s runs on this server only with a container runtime: start sagequeue serve with --container-runtime podman (or docker); without one, give ContainerEntrypoint, the command to run here as a process", tr.TrainingImage)
	case tr.AlgorithmName != "":
		return model.Invalidf(spec+".AlgorithmName", "%s cannot run on the local SageMaker endpoint: give TrainingImage (with sagequeue serve --container-runtime) or ContainerEntrypoint", tr.AlgorithmName)
	case l.Images:
		return model.Invalid(spec, "needs TrainingImage, the image to run, or ContainerEntrypoint, the command to run here as a process")
	}
	return model.Invalid(spec+".ContainerEntrypoint", "is required to run a training job on this server: the command to run here as a process (to run a TrainingImage instead, start sagequeue serve with --container-runtime podman or docker)")
}
