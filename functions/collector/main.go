// Command collector is the collector Lambda (see internal/lambdafn/collectorfn).
package main

import (
	"context"
	"log"
	"os"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/centralmsp/centralmsp/internal/lambdafn/collectorfn"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
)

func main() {
	if n := envconf.MemoryLimit(os.Getenv); n > 0 {
		debug.SetMemoryLimit(n) // the heap stays inside the function's memory
	}
	h, err := collectorfn.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	lambda.StartHandlerFunc(h.Handle)
}
