package main

import "testing"

func TestLambdaMemoryLimit(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		want   int64
		wantOK bool
	}{
		{"128 MB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"}, 104 << 20, true},
		{"1024 MB", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}, 1000 << 20, true},
		{"tiny size keeps half", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "32"}, 16 << 20, true},
		{"GOMEMLIMIT set wins", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "GOMEMLIMIT": "50MiB"}, 0, false},
		{"no size", map[string]string{}, 0, false},
		{"not a number", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "lots"}, 0, false},
		{"zero", map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "0"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := lambdaMemoryLimit(func(k string) string { return tt.env[k] })
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("lambdaMemoryLimit = %d, %v; want %d, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
