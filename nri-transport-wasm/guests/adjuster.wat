;; The adjusting and validating test plugin of nri-transport-wasm, in
;; upstream's WASM plugin ABI. Compiled to adjuster.wasm by rebuild.sh (the
;; tests check that the two agree).
;;
;; - Configure: logs "adjuster configured" through the host's env.log and
;;   writes a line to stdout (WASI fd_write); subscribes to the eight events
;;   of a pod's and a container's lifecycle, and to ValidateContainerAdjustment
;;   too when its configuration contains "validate".
;; - CreateContainer: adds the annotation adjusted-by=wasm and the
;;   environment variable NRI_WASM=adjusted.
;; - ValidateContainerAdjustment: rejects any request that contains the bytes
;;   "wasm-deny" (say, an annotation another plugin added), accepts the rest.
;; - Every other method replies with an empty message.
;;
;; _initialize must run exactly once before any call: Configure traps
;; otherwise, and a second _initialize traps.
;;
;; Memory: replies are constants below 64 KiB; requests are allocated from
;; a bump heap at 64 KiB that starts over whenever nothing is allocated.
(module
  (import "env" "log" (func $log (param i32 i32) (result i64)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)

  ;; CreateContainerResponse{adjust: {annotations: {adjusted-by: wasm},
  ;; env: [NRI_WASM=adjusted]}}
  (data (i32.const 1024) "\0a\2b\12\13\0a\0b\61\64\6a\75\73\74\65\64\2d\62\79\12\04\77\61\73\6d\22\14\0a\08\4e\52\49\5f\57\41\53\4d\12\08\61\64\6a\75\73\74\65\64")
  ;; ConfigureResponse{events: the lifecycle}, and with validation.
  (data (i32.const 1100) "\10\af\0d")
  (data (i32.const 1104) "\10\af\4d")
  ;; ValidateContainerAdjustmentResponse{reject: true, reason: ...}
  (data (i32.const 1120) "\08\01\12\1c\64\65\6e\69\65\64\20\62\79\20\74\68\65\20\57\41\53\4d\20\76\61\6c\69\64\61\74\6f\72")
  ;; LogRequest{msg: "adjuster configured", level: INFO}
  (data (i32.const 1160) "\0a\13\61\64\6a\75\73\74\65\72\20\63\6f\6e\66\69\67\75\72\65\64\10\02")
  (data (i32.const 1200) "validate")
  (data (i32.const 1210) "wasm-deny")
  (data (i32.const 1220) "adjuster: configured\n")
  ;; fd_write's iovec {1220, 21} and its result.
  (data (i32.const 1248) "\c4\04\00\00\15\00\00\00")

  (global $heap_base i32 (i32.const 65536))
  (global $heap (mut i32) (i32.const 65536))
  (global $live (mut i32) (i32.const 0))
  (global $initialized (mut i32) (i32.const 0))

  (func (export "_initialize")
    (if (global.get $initialized) (then unreachable))
    (global.set $initialized (i32.const 1)))

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

  ;; (ptr << 32) | size
  (func $reply (param $ptr i32) (param $size i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $ptr)) (i64.const 32))
            (i64.extend_i32_u (local.get $size))))

  ;; Whether the needle's bytes occur in the haystack's.
  (func $contains (param $hay i32) (param $hay_len i32) (param $needle i32) (param $needle_len i32) (result i32)
    (local $at i32) (local $i i32)
    (if (i32.lt_u (local.get $hay_len) (local.get $needle_len)) (then (return (i32.const 0))))
    (block $none
      (loop $next
        (br_if $none (i32.gt_u (local.get $at) (i32.sub (local.get $hay_len) (local.get $needle_len))))
        (local.set $i (i32.const 0))
        (block $mismatch
          (loop $compare
            (if (i32.eq (local.get $i) (local.get $needle_len)) (then (return (i32.const 1))))
            (br_if $mismatch (i32.ne
              (i32.load8_u (i32.add (i32.add (local.get $hay) (local.get $at)) (local.get $i)))
              (i32.load8_u (i32.add (local.get $needle) (local.get $i)))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $compare)))
        (local.set $at (i32.add (local.get $at) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "plugin_configure") (param $ptr i32) (param $size i32) (result i64)
    (if (i32.eqz (global.get $initialized)) (then unreachable))
    (drop (call $log (i32.const 1160) (i32.const 23)))
    (drop (call $fd_write (i32.const 1) (i32.const 1248) (i32.const 1) (i32.const 1256)))
    (if (result i64) (call $contains (local.get $ptr) (local.get $size) (i32.const 1200) (i32.const 8))
      (then (call $reply (i32.const 1104) (i32.const 3)))
      (else (call $reply (i32.const 1100) (i32.const 3)))))

  (func (export "plugin_create_container") (param i32 i32) (result i64)
    (call $reply (i32.const 1024) (i32.const 45)))

  (func (export "plugin_validate_container_adjustment") (param $ptr i32) (param $size i32) (result i64)
    (if (result i64) (call $contains (local.get $ptr) (local.get $size) (i32.const 1210) (i32.const 9))
      (then (call $reply (i32.const 1120) (i32.const 32)))
      (else (i64.const 0))))

  ;; Everything else: an empty reply.
  (func (export "plugin_synchronize") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_shutdown") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_run_pod_sandbox") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_update_pod_sandbox") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_post_update_pod_sandbox") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_stop_pod_sandbox") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_remove_pod_sandbox") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_post_create_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_start_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_post_start_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_update_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_post_update_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_stop_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_remove_container") (param i32 i32) (result i64) (i64.const 0))
  (func (export "plugin_state_change") (param i32 i32) (result i64) (i64.const 0))
)
