// Command collector is the collector Lambda (see internal/lambdafn/collectorfn).
package main

import (
	"context"
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/centralmsp/centralmsp/internal/lambdafn/collectorfn"
)

func main() {
	h, err := collectorfn.NewFromEnv(context.Background(), os.Getenv)
	if err != nil {
		log.Fatal(err)
	}
	lambda.StartHandlerFunc(h.Handle)
}
