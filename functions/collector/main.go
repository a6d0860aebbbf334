// Command collector is the collector Lambda (see internal/lambdafn/collectorfn).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/centralmsp/centralmsp/internal/lambdafn/collectorfn"
	"github.com/centralmsp/centralmsp/internal/lambdafn/envconf"
)

func main() {
	envconf.LimitMemory(os.Getenv) // the heap stays inside the function's memory
	h, err := collectorfn.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	lambda.StartHandlerFunc(h.Handle)
}
