package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/batch"

	"github.com/sagequeue/sagequeue/internal/inproc"
	"github.com/sagequeue/sagequeue/internal/model"
	"github.com/sagequeue/sagequeue/internal/setup"
	"github.com/sagequeue/sagequeue/internal/store"
	"github.com/sagequeue/sagequeue/internal/store/bolt"
)

// appliedConfigMeta names the store's record of the configuration last
// applied.
const appliedConfigMeta = "applied-config"

// appliedConfig is that record.
type appliedConfig struct {
	// SHA256 is the hash of the configuration as parsed (configHash), so a
	// comment or a reformatted file is no change.
	SHA256    string    `json:"sha256"`
	File      string    `json:"file"`
	AppliedAt time.Time `json:"appliedAt"`
}

// applyConfig applies cfg (read from file) through the Batch API handler h,
// in process, signing with creds, unless it is the configuration last applied to this store:
// a change made since with the API or the CLI (`env update
// --max-capacity 8`) then survives the restart, as it does in the cloud,
// where a deploy applies the configuration only when it changed. It logs
// every change it makes.
func applyConfig(ctx context.Context, log *slog.Logger, st *bolt.Store, h http.Handler, creds aws.CredentialsProvider, file string, cfg *setup.Config) error {
	sum, err := configHash(cfg)
	if err != nil {
		return err
	}
	var last appliedConfig
	raw, err := st.GetMeta(ctx, appliedConfigMeta)
	switch {
	case err == nil:
		if err := json.Unmarshal(raw, &last); err != nil {
			log.Warn("the record of the configuration last applied is unreadable; applying the file", "err", err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if last.SHA256 == sum {
		log.Info("configuration unchanged since it was last applied; changes made since through the API stay",
			"file", file, "appliedAt", last.AppliedAt.Format(time.RFC3339))
		return nil
	}
	client := batch.New(batch.Options{
		// Never dialled: the HTTP client serves every request with h.
		BaseEndpoint: aws.String("http://sagequeue.in-process"),
		Region:       model.LocalAccount.Region,
		Credentials:  creds,
		HTTPClient:   inproc.Client{Handler: h},
	})
	changes, err := setup.Apply(ctx, client, cfg)
	for _, c := range changes {
		log.Info("configuration: " + c.String())
	}
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		log.Info("configuration applied: the store already matched it", "file", file)
	} else {
		log.Info("configuration applied", "file", file, "changes", len(changes))
	}
	rec, err := json.Marshal(appliedConfig{SHA256: sum, File: file, AppliedAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	return st.PutMeta(ctx, appliedConfigMeta, rec)
}

// configHash is the SHA-256 of a configuration's canonical JSON.
func configHash(cfg *setup.Config) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("hashing the configuration: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}
