package providers

import "testing"

func TestUsageAddAndTotal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b  Usage
		sum   Usage
		total int
	}{
		{Usage{}, Usage{}, Usage{}, 0},
		{Usage{InputTokens: 120, OutputTokens: 30}, Usage{}, Usage{InputTokens: 120, OutputTokens: 30}, 150},
		{Usage{InputTokens: 1, OutputTokens: 2}, Usage{InputTokens: 10, OutputTokens: 20}, Usage{InputTokens: 11, OutputTokens: 22}, 33},
	}
	for _, tt := range tests {
		if got := tt.a.Add(tt.b); got != tt.sum {
			t.Errorf("%+v.Add(%+v) = %+v, want %+v", tt.a, tt.b, got, tt.sum)
		}
		if got := tt.b.Add(tt.a); got != tt.sum {
			t.Errorf("Add is not symmetric: %+v.Add(%+v) = %+v", tt.b, tt.a, got)
		}
		if got := tt.sum.Total(); got != tt.total {
			t.Errorf("%+v.Total() = %d, want %d", tt.sum, got, tt.total)
		}
	}
}
