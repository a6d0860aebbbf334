// Command collector is the collector Lambda (see internal/lambdafn/collector).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/centralmsp/centralmsp/internal/lambdafn/collector"
)

func main() {
	h, err := collector.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	lambda.StartHandlerFunc(h.Handle)
}
