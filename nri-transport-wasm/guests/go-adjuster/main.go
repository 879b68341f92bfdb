// A WASM plugin built with Go's own toolchain (GOOS=wasip1, a c-shared
// reactor), in upstream NRI's WASM ABI, on the standard library alone: the
// test module for Go-built plugins (a Go runtime, _initialize, WASI
// clocks, random and output, megabytes of code).
//
// It behaves like adjuster.wat: it subscribes to the eight lifecycle
// events, adds the annotation adjusted-by=wasm and NRI_WASM=adjusted to
// every container it creates, and, like upstream's sample, logs every call
// through the host's env.log.
//
// Build: see ../rebuild-go.sh.
package main

import (
	"os"
	"unsafe"
)

func main() {}

// live keeps the buffers malloc handed out until the host frees them.
var live = map[uint32][]byte{}

//go:wasmexport malloc
func malloc(size uint32) uint32 {
	buf := make([]byte, size+1)
	ptr := uint32(uintptr(unsafe.Pointer(&buf[0])))
	live[ptr] = buf
	return ptr
}

//go:wasmexport free
func free(ptr uint32) {
	delete(live, ptr)
}

//go:wasmexport plugin_api_version
func pluginAPIVersion() uint64 {
	return 1
}

//go:wasmimport env log
func hostLog(ptr, size uint32) uint64

// appendString appends protobuf field tag (wire type 2) holding s.
func appendString(out []byte, tag byte, s string) []byte {
	out = append(out, tag<<3|2, byte(len(s)))
	return append(out, s...)
}

// logInfo sends LogRequest{msg, level: INFO} to the host.
func logInfo(msg string) {
	req := appendString(nil, 1, "WASM: "+msg)
	req = append(req, 2<<3, 2)
	hostLog(uint32(uintptr(unsafe.Pointer(&req[0]))), uint32(len(req)))
}

// reply copies b into a malloc'ed buffer the host frees.
func reply(b []byte) uint64 {
	if len(b) == 0 {
		return 0
	}
	ptr := malloc(uint32(len(b)))
	copy(live[ptr], b)
	return uint64(ptr)<<32 | uint64(len(b))
}

func empty(event string) uint64 {
	logInfo("Got " + event + " request")
	return 0
}

//go:wasmexport plugin_configure
func configure(ptr, size uint32) uint64 {
	logInfo("Got configure request")
	os.Stdout.WriteString("go-adjuster: configured\n")
	// ConfigureResponse{events: the eight lifecycle events}
	return reply([]byte{2<<3 | 0, 0xaf, 0x0d})
}

//go:wasmexport plugin_create_container
func createContainer(ptr, size uint32) uint64 {
	logInfo("Got create container request")
	annotation := appendString(appendString(nil, 1, "adjusted-by"), 2, "wasm")
	env := appendString(appendString(nil, 1, "NRI_WASM"), 2, "adjusted")
	adjust := append([]byte{2<<3 | 2, byte(len(annotation))}, annotation...)
	adjust = append(adjust, 4<<3|2, byte(len(env)))
	adjust = append(adjust, env...)
	return reply(append([]byte{1<<3 | 2, byte(len(adjust))}, adjust...))
}

//go:wasmexport plugin_synchronize
func synchronize(ptr, size uint32) uint64 { return empty("synchronize") }

//go:wasmexport plugin_shutdown
func shutdown(ptr, size uint32) uint64 { return empty("shutdown") }

//go:wasmexport plugin_run_pod_sandbox
func runPodSandbox(ptr, size uint32) uint64 { return empty("run pod sandbox") }

//go:wasmexport plugin_update_pod_sandbox
func updatePodSandbox(ptr, size uint32) uint64 { return empty("update pod sandbox") }

//go:wasmexport plugin_post_update_pod_sandbox
func postUpdatePodSandbox(ptr, size uint32) uint64 { return empty("post update pod sandbox") }

//go:wasmexport plugin_stop_pod_sandbox
func stopPodSandbox(ptr, size uint32) uint64 { return empty("stop pod sandbox") }

//go:wasmexport plugin_remove_pod_sandbox
func removePodSandbox(ptr, size uint32) uint64 { return empty("remove pod sandbox") }

//go:wasmexport plugin_post_create_container
func postCreateContainer(ptr, size uint32) uint64 { return empty("post create container") }

//go:wasmexport plugin_start_container
func startContainer(ptr, size uint32) uint64 { return empty("start container") }

//go:wasmexport plugin_post_start_container
func postStartContainer(ptr, size uint32) uint64 { return empty("post start container") }

//go:wasmexport plugin_update_container
func updateContainer(ptr, size uint32) uint64 { return empty("update container") }

//go:wasmexport plugin_post_update_container
func postUpdateContainer(ptr, size uint32) uint64 { return empty("post update container") }

//go:wasmexport plugin_stop_container
func stopContainer(ptr, size uint32) uint64 { return empty("stop container") }

//go:wasmexport plugin_remove_container
func removeContainer(ptr, size uint32) uint64 { return empty("remove container") }

//go:wasmexport plugin_state_change
func stateChange(ptr, size uint32) uint64 { return empty("state change") }

//go:wasmexport plugin_validate_container_adjustment
func validateContainerAdjustment(ptr, size uint32) uint64 {
	return empty("validate container adjustment")
}
