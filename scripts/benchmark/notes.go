package main

import "strings"

// profileNotes is what a profile of the Lambda path showed, written down
// once by hand (the tables around it are measured on every run). It is
// printed with section 6, whose columns (wake-ups, threads, GCs) let a
// reader check that the picture still holds.
const profileNotes = `**Where the CPU of a delta goes** (profiled by hand on 2026-11-28 on this machine, before the changes listed below: the bootstrap in Lambda mode under localgw, one stream of 3,000 ` + "`emulator.timestamp-v1`" + ` deltas at 300/s, GOMAXPROCS=1; ` + "`perf record -g`" + ` on the process, ` + "`strace -c -f`" + `, per-thread ` + "`/proc`" + ` counters, ` + "`go test -bench LambdaRelay -cpuprofile/-memprofile`" + ` for the Go side):

- **About 87 µs of CPU a delta** (80 to 105 µs from run to run on the shared machine): the thread running the Go code about 60 µs with one wake-up a delta, the runtime's ` + "`sysmon`" + ` thread about 24 µs with two.
- **System calls a delta:** 2 ` + "`futex`" + ` and 1.8 ` + "`nanosleep`" + ` (sysmon), 2 ` + "`epoll_pwait`" + `, 2 ` + "`read`" + ` (one returns EAGAIN: Go reads until the socket would block, then parks), 1 ` + "`write`" + ` (the chunk to the Runtime API). Whenever every P is idle, sysmon sleeps on a futex; the first system call after that wakes it, and it then naps 20 µs at a time until the process idles again. That is two of the three wake-ups a delta. With ` + "`GODEBUG=schedtrace=2147483647`" + ` sysmon never sleeps deep (it naps up to 10 ms, about 100 wake-ups a second at any rate): 0.3 nanosleep and no futex a delta, sysmon down to about 5.5 µs a delta, and what remains is exactly the system-call pattern of a bare reverse proxy.
- **The Go thread** (perf): 25% scheduler (findRunnable, netpoll, epoll, switching), 22% the Runtime API write (net/http's chunked writer and the write system call, which on loopback also runs the receiving side's TCP path), 14% the upstream read and parking, 22% the SDK decoding frames (CRC, headers, the schema-driven JSON deserializer), 10% allocation, 4% the relay itself (the handler goroutine, with its io.Pipe write), 1.6% the SDK's extra goroutine between its reader and the events channel, 1.5% GC.
- **Goroutine hand-offs:** four a delta (smithy-go's reader → bedrockruntime's pipe goroutine → the relay → net/http's write loop through apigw's io.Pipe). With one P they go through runnext (schedtrace counts about 1.1 scheduling rounds a delta), about 2 µs a delta in all: not worth removing.
- **Allocations:** 55 a delta, about 4 KB; 93% in smithy-go's DeserializeEventMessage (header names and values, the payload buffer, a ` + "`fmt.Sprintf`" + ` of the event's shape ID, the JSON deserializer's stacks). The gateway adds 0.2 a delta (` + "`BenchmarkLambdaRelay`" + `, section 5).
- **GC** at the default GOGC in a 128 MB function: the heap goes 3 → 1 MB, one collection every ~750 deltas at about 0.6 ms: under 1 µs a delta (about 1%). GOMEMLIMIT (set from ` + "`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`" + `) guards against running out of memory; it does not change this.
- **The floor:** a bare ` + "`httputil.ReverseProxy`" + ` (GOMAXPROCS=1) between the SDK and the emulator costs about 35 µs a delta with that GODEBUG and 49 to 99 µs without: the least one idle-to-busy relay hop costs here. At full speed (section 7) the process never idles and reads come in batches: 9 to 16 µs a delta.

Changed since: the SDK's event-stream decoder now reads through a 4 KiB buffer (it made about 20 small reads a frame through net/http's body layers: 1.5 to 2 µs a delta less), GOMEMLIMIT is set in Lambda mode, and the template sets the GODEBUG above in the function's environment (the rows that name it).

`

func (r *Report) notes(b *strings.Builder) { b.WriteString(profileNotes) }
