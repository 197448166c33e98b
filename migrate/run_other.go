//go:build !linux

package migrate

import (
	"context"
	"errors"
)

type migrator struct{ opts Options }

func newMigrator(opts Options) *migrator { return &migrator{opts: opts} }

func (m *migrator) run(context.Context) (*Report, error) {
	return nil, errors.New("migrate: overlayfs migration needs Linux")
}
