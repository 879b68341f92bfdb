;; The relay guest of nri-transport-wasm's tests and of nri-testkit's WASM
;; conformance harness: a module of upstream's WASM plugin ABI whose every
;; plugin_<method> export hands the request to the host and returns the
;; host's answer. Compiled to relay.wasm by rebuild.sh (a test checks that
;; the two agree).
;;
;; It imports nri_test.call(method, ptr, size) -> u64, a host function only
;; a test gives (WasmTransport's hidden test hook; the ordinary loader does
;; not link it, so this module does not load as a plugin). `method` is the
;; method's position in nri-core's METHODS; the result is the ABI's
;; (ptr << 32) | size, written by the host into memory it got from this
;; module's malloc, bit 31 of the size marking an error string.
;;
;; Memory: a bump heap at 64 KiB that starts over whenever nothing is
;; allocated (the host frees the request and the reply after each call).
(module
  (import "nri_test" "call" (func $call (param i32 i32 i32) (result i64)))
  (memory (export "memory") 2)

  (global $heap_base i32 (i32.const 65536))
  (global $heap (mut i32) (i32.const 65536))
  (global $live (mut i32) (i32.const 0))

  (func (export "plugin_api_version") (result i64) (i64.const 1))

  (func (export "malloc") (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (if (i32.eqz (global.get $live)) (then (global.set $heap (global.get $heap_base))))
    (local.set $ptr (global.get $heap))
    (local.set $end (i32.add (local.get $ptr)
      (i32.and (i32.add (local.get $size) (i32.const 7)) (i32.const -8))))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq (i32.const -1) (memory.grow (i32.shr_u
              (i32.add (i32.sub (local.get $end) (local.get $have)) (i32.const 65535))
              (i32.const 16))))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (global.set $live (i32.add (global.get $live) (i32.const 1)))
    (local.get $ptr))

  (func (export "free") (param $ptr i32)
    (if (i32.and (i32.ge_u (local.get $ptr) (global.get $heap_base)) (i32.ne (global.get $live) (i32.const 0)))
      (then (global.set $live (i32.sub (global.get $live) (i32.const 1))))))

  ;; One export per method, in nri-core's METHODS order.
  (func (export "plugin_configure") (param i32 i32) (result i64)
    (call $call (i32.const 0) (local.get 0) (local.get 1)))
  (func (export "plugin_synchronize") (param i32 i32) (result i64)
    (call $call (i32.const 1) (local.get 0) (local.get 1)))
  (func (export "plugin_shutdown") (param i32 i32) (result i64)
    (call $call (i32.const 2) (local.get 0) (local.get 1)))
  (func (export "plugin_run_pod_sandbox") (param i32 i32) (result i64)
    (call $call (i32.const 3) (local.get 0) (local.get 1)))
  (func (export "plugin_update_pod_sandbox") (param i32 i32) (result i64)
    (call $call (i32.const 4) (local.get 0) (local.get 1)))
  (func (export "plugin_post_update_pod_sandbox") (param i32 i32) (result i64)
    (call $call (i32.const 5) (local.get 0) (local.get 1)))
  (func (export "plugin_stop_pod_sandbox") (param i32 i32) (result i64)
    (call $call (i32.const 6) (local.get 0) (local.get 1)))
  (func (export "plugin_remove_pod_sandbox") (param i32 i32) (result i64)
    (call $call (i32.const 7) (local.get 0) (local.get 1)))
  (func (export "plugin_create_container") (param i32 i32) (result i64)
    (call $call (i32.const 8) (local.get 0) (local.get 1)))
  (func (export "plugin_post_create_container") (param i32 i32) (result i64)
    (call $call (i32.const 9) (local.get 0) (local.get 1)))
  (func (export "plugin_start_container") (param i32 i32) (result i64)
    (call $call (i32.const 10) (local.get 0) (local.get 1)))
  (func (export "plugin_post_start_container") (param i32 i32) (result i64)
    (call $call (i32.const 11) (local.get 0) (local.get 1)))
  (func (export "plugin_update_container") (param i32 i32) (result i64)
    (call $call (i32.const 12) (local.get 0) (local.get 1)))
  (func (export "plugin_post_update_container") (param i32 i32) (result i64)
    (call $call (i32.const 13) (local.get 0) (local.get 1)))
  (func (export "plugin_stop_container") (param i32 i32) (result i64)
    (call $call (i32.const 14) (local.get 0) (local.get 1)))
  (func (export "plugin_remove_container") (param i32 i32) (result i64)
    (call $call (i32.const 15) (local.get 0) (local.get 1)))
  (func (export "plugin_state_change") (param i32 i32) (result i64)
    (call $call (i32.const 16) (local.get 0) (local.get 1)))
  (func (export "plugin_validate_container_adjustment") (param i32 i32) (result i64)
    (call $call (i32.const 17) (local.get 0) (local.get 1)))
)
