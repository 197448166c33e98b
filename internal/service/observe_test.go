package service

import (
	"reflect"
	"testing"
	"time"
)

func TestParseNeedReload(t *testing.T) {
	out := "Id=left4me-web.service\nNeedDaemonReload=no\n\nId=var-lib-left4me.mount\nNeedDaemonReload=yes\n\n" +
		"Id=left4me-server@a.service\nNeedDaemonReload=yes\n\nId=left4me-server@b.service\nNeedDaemonReload=no\n"
	units := []string{"left4me-web.service", "left4me-server@.service", "var-lib-left4me.mount"}
	got, err := parseNeedReload(out, units)
	if want := []string{"left4me-server@.service", "var-lib-left4me.mount"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("parseNeedReload = %v, %v; want %v", got, err, want)
	}
	if _, err := parseNeedReload("Id=x.service\nNeedDaemonReload=maybe\n", units); err == nil {
		t.Fatal("an unknown NeedDaemonReload value was accepted")
	}
}

func TestParseTimestamp(t *testing.T) {
	got, err := ParseTimestamp("Fri 2026-12-04 19:05:01.123456 UTC")
	if want := time.Date(2026, 12, 4, 19, 5, 1, 123456000, time.UTC); err != nil || !got.Equal(want) {
		t.Fatalf("ParseTimestamp = %v, %v; want %v", got, err, want)
	}
	if z, err := ParseTimestamp("n/a"); err != nil || !z.IsZero() {
		t.Fatalf("n/a = %v, %v", z, err)
	}
	if _, err := ParseTimestamp("Fri 2026-12-04 19:05:01 CET"); err == nil {
		t.Fatal("a non-UTC time was accepted")
	}
}
