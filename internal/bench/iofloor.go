package bench

import "time"

// IOFloor is the least the kernel's part of a run's I/O costs on this
// machine, apart from anything net/http, the SDK or the collector adds:
// each answer read from a kept-alive loopback connection after writing a
// request, and each object made durable the way the directory sink does
// it (create a temporary file, write, fsync, close, rename, fsync the
// directory). It is timed on a sample at the run's mean sizes, on one
// thread, and scaled to the run's counts.
type IOFloor struct {
	// Answers is how many answers the simulator sent, AnswerBytes their
	// mean body size.
	Answers     int64 `json:"answers"`
	AnswerBytes int64 `json:"answer_bytes"`
	// Objects is how many dataset objects the run wrote, ObjectBytes their
	// mean (compressed) size.
	Objects     int64 `json:"objects"`
	ObjectBytes int64 `json:"object_bytes"`
	// PerAnswer and PerObject are the thread's CPU time for one of each.
	PerAnswer time.Duration `json:"per_answer"`
	PerObject time.Duration `json:"per_object"`
	// CPU is the run's total: Answers × PerAnswer + Objects × PerObject.
	CPU time.Duration `json:"cpu"`
}

// ioFloorSample is how many answers and objects measureIOFloor times.
const ioFloorSample = 1000

// measureIOFloor times the kernel's part of a run of answers answers
// (answerBytes in all) and objects objects (objectBytes in all), writing
// its sample objects under scratch (on the file system the run wrote to).
// It returns nil where the platform has no per-thread CPU clock, or for a
// run without answers or objects.
func measureIOFloor(scratch string, answers, answerBytes, objects, objectBytes int64) (*IOFloor, error) {
	if threadCPU() == 0 || answers <= 0 || objects <= 0 {
		return nil, nil
	}
	f := &IOFloor{Answers: answers, AnswerBytes: answerBytes / answers, Objects: objects, ObjectBytes: objectBytes / objects}
	a, err := answersCPU(ioFloorSample, int(f.AnswerBytes))
	if err != nil {
		return nil, err
	}
	o, err := objectsCPU(scratch, ioFloorSample, int(f.ObjectBytes))
	if err != nil {
		return nil, err
	}
	f.PerAnswer, f.PerObject = a/ioFloorSample, o/ioFloorSample
	f.CPU = time.Duration(answers)*f.PerAnswer + time.Duration(objects)*f.PerObject
	return f, nil
}
