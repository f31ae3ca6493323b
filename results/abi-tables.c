/* Names the ABI diff gives to bits, fields and registers (abi-tables.h).
 * CPUID feature names follow Linux's /proc/cpuinfo flags (so a CPUID bit and
 * the guest's cpu flag read alike); virtio names are the spec's VIRTIO_*_F_*. */
#include <string.h>

#include "abi-tables.h"
#include "ml-common.h"

enum { EAX, EBX, ECX, EDX };

#define BIT(l, s, r, b, n) { l, s, r, { b, 1, n } }
#define FLD(l, s, r, lo, w, n) { l, s, r, { lo, w, n } }

const struct ml_cpuid_field ml_cpuid_fields[] = {
	FLD(0x0, 0, EAX, 0, 32, "max basic leaf"),
	/* leaf 1: signature, brand/APIC, features */
	FLD(0x1, 0, EAX, 0, 4, "stepping"), FLD(0x1, 0, EAX, 4, 4, "model"),
	FLD(0x1, 0, EAX, 8, 4, "family"), FLD(0x1, 0, EAX, 12, 2, "processor type"),
	FLD(0x1, 0, EAX, 16, 4, "extended model"), FLD(0x1, 0, EAX, 20, 8, "extended family"),
	FLD(0x1, 0, EBX, 0, 8, "brand index"), FLD(0x1, 0, EBX, 8, 8, "clflush line size"),
	FLD(0x1, 0, EBX, 16, 8, "max logical processor ids"), FLD(0x1, 0, EBX, 24, 8, "initial APIC id"),
	BIT(0x1, 0, ECX, 0, "pni"), BIT(0x1, 0, ECX, 1, "pclmulqdq"), BIT(0x1, 0, ECX, 2, "dtes64"),
	BIT(0x1, 0, ECX, 3, "monitor"), BIT(0x1, 0, ECX, 4, "ds_cpl"), BIT(0x1, 0, ECX, 5, "vmx"),
	BIT(0x1, 0, ECX, 6, "smx"), BIT(0x1, 0, ECX, 7, "est"), BIT(0x1, 0, ECX, 8, "tm2"),
	BIT(0x1, 0, ECX, 9, "ssse3"), BIT(0x1, 0, ECX, 10, "cid"), BIT(0x1, 0, ECX, 11, "sdbg"),
	BIT(0x1, 0, ECX, 12, "fma"), BIT(0x1, 0, ECX, 13, "cx16"), BIT(0x1, 0, ECX, 14, "xtpr"),
	BIT(0x1, 0, ECX, 15, "pdcm"), BIT(0x1, 0, ECX, 17, "pcid"), BIT(0x1, 0, ECX, 18, "dca"),
	BIT(0x1, 0, ECX, 19, "sse4_1"), BIT(0x1, 0, ECX, 20, "sse4_2"), BIT(0x1, 0, ECX, 21, "x2apic"),
	BIT(0x1, 0, ECX, 22, "movbe"), BIT(0x1, 0, ECX, 23, "popcnt"),
	BIT(0x1, 0, ECX, 24, "tsc_deadline_timer"), BIT(0x1, 0, ECX, 25, "aes"),
	BIT(0x1, 0, ECX, 26, "xsave"), BIT(0x1, 0, ECX, 27, "osxsave"), BIT(0x1, 0, ECX, 28, "avx"),
	BIT(0x1, 0, ECX, 29, "f16c"), BIT(0x1, 0, ECX, 30, "rdrand"), BIT(0x1, 0, ECX, 31, "hypervisor"),
	BIT(0x1, 0, EDX, 0, "fpu"), BIT(0x1, 0, EDX, 1, "vme"), BIT(0x1, 0, EDX, 2, "de"),
	BIT(0x1, 0, EDX, 3, "pse"), BIT(0x1, 0, EDX, 4, "tsc"), BIT(0x1, 0, EDX, 5, "msr"),
	BIT(0x1, 0, EDX, 6, "pae"), BIT(0x1, 0, EDX, 7, "mce"), BIT(0x1, 0, EDX, 8, "cx8"),
	BIT(0x1, 0, EDX, 9, "apic"), BIT(0x1, 0, EDX, 11, "sep"), BIT(0x1, 0, EDX, 12, "mtrr"),
	BIT(0x1, 0, EDX, 13, "pge"), BIT(0x1, 0, EDX, 14, "mca"), BIT(0x1, 0, EDX, 15, "cmov"),
	BIT(0x1, 0, EDX, 16, "pat"), BIT(0x1, 0, EDX, 17, "pse36"), BIT(0x1, 0, EDX, 18, "pn"),
	BIT(0x1, 0, EDX, 19, "clflush"), BIT(0x1, 0, EDX, 21, "dts"), BIT(0x1, 0, EDX, 22, "acpi"),
	BIT(0x1, 0, EDX, 23, "mmx"), BIT(0x1, 0, EDX, 24, "fxsr"), BIT(0x1, 0, EDX, 25, "sse"),
	BIT(0x1, 0, EDX, 26, "sse2"), BIT(0x1, 0, EDX, 27, "ss"), BIT(0x1, 0, EDX, 28, "ht"),
	BIT(0x1, 0, EDX, 29, "tm"), BIT(0x1, 0, EDX, 30, "ia64"), BIT(0x1, 0, EDX, 31, "pbe"),
	/* leaf 6: thermal and power */
	BIT(0x6, 0, EAX, 0, "dtherm"), BIT(0x6, 0, EAX, 1, "ida"), BIT(0x6, 0, EAX, 2, "arat"),
	BIT(0x6, 0, EAX, 4, "pln"), BIT(0x6, 0, EAX, 6, "pts"), BIT(0x6, 0, EAX, 7, "hwp"),
	/* leaf 7.0: structured extended features */
	FLD(0x7, 0, EAX, 0, 32, "max subleaf"),
	BIT(0x7, 0, EBX, 0, "fsgsbase"), BIT(0x7, 0, EBX, 1, "tsc_adjust"), BIT(0x7, 0, EBX, 2, "sgx"),
	BIT(0x7, 0, EBX, 3, "bmi1"), BIT(0x7, 0, EBX, 4, "hle"), BIT(0x7, 0, EBX, 5, "avx2"),
	BIT(0x7, 0, EBX, 6, "fdp_excptn_only"), BIT(0x7, 0, EBX, 7, "smep"), BIT(0x7, 0, EBX, 8, "bmi2"),
	BIT(0x7, 0, EBX, 9, "erms"), BIT(0x7, 0, EBX, 10, "invpcid"), BIT(0x7, 0, EBX, 11, "rtm"),
	BIT(0x7, 0, EBX, 12, "cqm"), BIT(0x7, 0, EBX, 13, "zero_fcs_fds"), BIT(0x7, 0, EBX, 14, "mpx"),
	BIT(0x7, 0, EBX, 15, "rdt_a"), BIT(0x7, 0, EBX, 16, "avx512f"), BIT(0x7, 0, EBX, 17, "avx512dq"),
	BIT(0x7, 0, EBX, 18, "rdseed"), BIT(0x7, 0, EBX, 19, "adx"), BIT(0x7, 0, EBX, 20, "smap"),
	BIT(0x7, 0, EBX, 21, "avx512ifma"), BIT(0x7, 0, EBX, 22, "pcommit"),
	BIT(0x7, 0, EBX, 23, "clflushopt"), BIT(0x7, 0, EBX, 24, "clwb"), BIT(0x7, 0, EBX, 25, "intel_pt"),
	BIT(0x7, 0, EBX, 26, "avx512pf"), BIT(0x7, 0, EBX, 27, "avx512er"), BIT(0x7, 0, EBX, 28, "avx512cd"),
	BIT(0x7, 0, EBX, 29, "sha_ni"), BIT(0x7, 0, EBX, 30, "avx512bw"), BIT(0x7, 0, EBX, 31, "avx512vl"),
	BIT(0x7, 0, ECX, 0, "prefetchwt1"), BIT(0x7, 0, ECX, 1, "avx512vbmi"), BIT(0x7, 0, ECX, 2, "umip"),
	BIT(0x7, 0, ECX, 3, "pku"), BIT(0x7, 0, ECX, 4, "ospke"), BIT(0x7, 0, ECX, 5, "waitpkg"),
	BIT(0x7, 0, ECX, 6, "avx512_vbmi2"), BIT(0x7, 0, ECX, 7, "shstk"), BIT(0x7, 0, ECX, 8, "gfni"),
	BIT(0x7, 0, ECX, 9, "vaes"), BIT(0x7, 0, ECX, 10, "vpclmulqdq"), BIT(0x7, 0, ECX, 11, "avx512_vnni"),
	BIT(0x7, 0, ECX, 12, "avx512_bitalg"), BIT(0x7, 0, ECX, 13, "tme"),
	BIT(0x7, 0, ECX, 14, "avx512_vpopcntdq"), BIT(0x7, 0, ECX, 16, "la57"),
	FLD(0x7, 0, ECX, 17, 5, "mawau"), BIT(0x7, 0, ECX, 22, "rdpid"), BIT(0x7, 0, ECX, 23, "kl"),
	BIT(0x7, 0, ECX, 24, "bus_lock_detect"), BIT(0x7, 0, ECX, 25, "cldemote"),
	BIT(0x7, 0, ECX, 27, "movdiri"), BIT(0x7, 0, ECX, 28, "movdir64b"), BIT(0x7, 0, ECX, 29, "enqcmd"),
	BIT(0x7, 0, ECX, 30, "sgx_lc"), BIT(0x7, 0, ECX, 31, "pks"),
	BIT(0x7, 0, EDX, 2, "avx512_4vnniw"), BIT(0x7, 0, EDX, 3, "avx512_4fmaps"), BIT(0x7, 0, EDX, 4, "fsrm"),
	BIT(0x7, 0, EDX, 5, "uintr"), BIT(0x7, 0, EDX, 8, "avx512_vp2intersect"),
	BIT(0x7, 0, EDX, 9, "srbds_ctrl"), BIT(0x7, 0, EDX, 10, "md_clear"),
	BIT(0x7, 0, EDX, 11, "rtm_always_abort"), BIT(0x7, 0, EDX, 13, "tsx_force_abort"),
	BIT(0x7, 0, EDX, 14, "serialize"), BIT(0x7, 0, EDX, 15, "hybrid_cpu"), BIT(0x7, 0, EDX, 16, "tsxldtrk"),
	BIT(0x7, 0, EDX, 18, "pconfig"), BIT(0x7, 0, EDX, 19, "arch_lbr"), BIT(0x7, 0, EDX, 20, "ibt"),
	BIT(0x7, 0, EDX, 22, "amx_bf16"), BIT(0x7, 0, EDX, 23, "avx512_fp16"), BIT(0x7, 0, EDX, 24, "amx_tile"),
	BIT(0x7, 0, EDX, 25, "amx_int8"), BIT(0x7, 0, EDX, 26, "spec_ctrl"), BIT(0x7, 0, EDX, 27, "intel_stibp"),
	BIT(0x7, 0, EDX, 28, "flush_l1d"), BIT(0x7, 0, EDX, 29, "arch_capabilities"),
	BIT(0x7, 0, EDX, 30, "core_capabilities"), BIT(0x7, 0, EDX, 31, "spec_ctrl_ssbd"),
	/* leaf 7.1 */
	BIT(0x7, 1, EAX, 4, "avx_vnni"), BIT(0x7, 1, EAX, 5, "avx512_bf16"), BIT(0x7, 1, EAX, 10, "fzrm"),
	BIT(0x7, 1, EAX, 11, "fsrs"), BIT(0x7, 1, EAX, 12, "fsrc"), BIT(0x7, 1, EAX, 17, "fred"),
	BIT(0x7, 1, EAX, 18, "lkgs"), BIT(0x7, 1, EAX, 19, "wrmsrns"), BIT(0x7, 1, EAX, 21, "amx_fp16"),
	BIT(0x7, 1, EAX, 22, "hreset"), BIT(0x7, 1, EAX, 23, "avx_ifma"), BIT(0x7, 1, EAX, 26, "lam"),
	/* leaf 0xd: XSAVE state components and sizes */
	BIT(0xd, 0, EAX, 0, "x87"), BIT(0xd, 0, EAX, 1, "sse"), BIT(0xd, 0, EAX, 2, "avx"),
	BIT(0xd, 0, EAX, 3, "mpx_bndregs"), BIT(0xd, 0, EAX, 4, "mpx_bndcsr"), BIT(0xd, 0, EAX, 5, "avx512_opmask"),
	BIT(0xd, 0, EAX, 6, "avx512_zmm_hi256"), BIT(0xd, 0, EAX, 7, "avx512_hi16_zmm"),
	BIT(0xd, 0, EAX, 9, "pkru"), BIT(0xd, 0, EAX, 17, "amx_xtilecfg"), BIT(0xd, 0, EAX, 18, "amx_xtiledata"),
	FLD(0xd, 0, EBX, 0, 32, "xsave size for enabled XCR0"),
	FLD(0xd, 0, ECX, 0, 32, "xsave size for all components"),
	FLD(0xd, 0, EDX, 0, 32, "XCR0 supported bits 63:32"),
	BIT(0xd, 1, EAX, 0, "xsaveopt"), BIT(0xd, 1, EAX, 1, "xsavec"), BIT(0xd, 1, EAX, 2, "xgetbv1"),
	BIT(0xd, 1, EAX, 3, "xsaves"), BIT(0xd, 1, EAX, 4, "xfd"),
	FLD(0xd, 1, EBX, 0, 32, "xsave size for XCR0|IA32_XSS"),
	FLD(0xd, ML_CPUID_SUB_GE2, EAX, 0, 32, "component size"),
	FLD(0xd, ML_CPUID_SUB_GE2, EBX, 0, 32, "component offset"),
	FLD(0xd, ML_CPUID_SUB_GE2, ECX, 0, 32, "component flags"),
	/* hypervisor leaves (KVM) */
	FLD(0x40000000, 0, EAX, 0, 32, "max hypervisor leaf"),
	BIT(0x40000001, 0, EAX, 0, "kvm_clocksource"), BIT(0x40000001, 0, EAX, 1, "kvm_nop_io_delay"),
	BIT(0x40000001, 0, EAX, 2, "kvm_mmu_op"), BIT(0x40000001, 0, EAX, 3, "kvm_clocksource2"),
	BIT(0x40000001, 0, EAX, 4, "kvm_async_pf"), BIT(0x40000001, 0, EAX, 5, "kvm_steal_time"),
	BIT(0x40000001, 0, EAX, 6, "kvm_pv_eoi"), BIT(0x40000001, 0, EAX, 7, "kvm_pv_unhalt"),
	BIT(0x40000001, 0, EAX, 9, "kvm_pv_tlb_flush"), BIT(0x40000001, 0, EAX, 10, "kvm_async_pf_vmexit"),
	BIT(0x40000001, 0, EAX, 11, "kvm_pv_send_ipi"), BIT(0x40000001, 0, EAX, 12, "kvm_poll_control"),
	BIT(0x40000001, 0, EAX, 13, "kvm_pv_sched_yield"), BIT(0x40000001, 0, EAX, 14, "kvm_async_pf_int"),
	BIT(0x40000001, 0, EAX, 15, "kvm_msi_ext_dest_id"), BIT(0x40000001, 0, EAX, 16, "kvm_hc_map_gpa_range"),
	BIT(0x40000001, 0, EAX, 17, "kvm_migration_control"),
	BIT(0x40000001, 0, EAX, 24, "kvm_clocksource_stable_bit"),
	BIT(0x40000001, 0, EDX, 0, "kvm_hint_realtime"),
	FLD(0x40000010, 0, EAX, 0, 32, "TSC frequency (kHz)"),
	FLD(0x40000010, 0, EBX, 0, 32, "APIC bus frequency (kHz)"),
	/* extended leaves */
	FLD(0x80000000, 0, EAX, 0, 32, "max extended leaf"),
	BIT(0x80000001, 0, ECX, 0, "lahf_lm"), BIT(0x80000001, 0, ECX, 1, "cmp_legacy"),
	BIT(0x80000001, 0, ECX, 2, "svm"), BIT(0x80000001, 0, ECX, 3, "extapic"),
	BIT(0x80000001, 0, ECX, 4, "cr8_legacy"), BIT(0x80000001, 0, ECX, 5, "abm"),
	BIT(0x80000001, 0, ECX, 6, "sse4a"), BIT(0x80000001, 0, ECX, 7, "misalignsse"),
	BIT(0x80000001, 0, ECX, 8, "3dnowprefetch"), BIT(0x80000001, 0, ECX, 9, "osvw"),
	BIT(0x80000001, 0, ECX, 10, "ibs"), BIT(0x80000001, 0, ECX, 11, "xop"),
	BIT(0x80000001, 0, ECX, 12, "skinit"), BIT(0x80000001, 0, ECX, 13, "wdt"),
	BIT(0x80000001, 0, ECX, 15, "lwp"), BIT(0x80000001, 0, ECX, 16, "fma4"),
	BIT(0x80000001, 0, ECX, 17, "tce"), BIT(0x80000001, 0, ECX, 19, "nodeid_msr"),
	BIT(0x80000001, 0, ECX, 21, "tbm"), BIT(0x80000001, 0, ECX, 22, "topoext"),
	BIT(0x80000001, 0, ECX, 23, "perfctr_core"), BIT(0x80000001, 0, ECX, 24, "perfctr_nb"),
	BIT(0x80000001, 0, ECX, 26, "bpext"), BIT(0x80000001, 0, ECX, 27, "ptsc"),
	BIT(0x80000001, 0, ECX, 28, "perfctr_llc"), BIT(0x80000001, 0, ECX, 29, "mwaitx"),
	BIT(0x80000001, 0, EDX, 0, "fpu"), BIT(0x80000001, 0, EDX, 1, "vme"), BIT(0x80000001, 0, EDX, 2, "de"),
	BIT(0x80000001, 0, EDX, 3, "pse"), BIT(0x80000001, 0, EDX, 4, "tsc"), BIT(0x80000001, 0, EDX, 5, "msr"),
	BIT(0x80000001, 0, EDX, 6, "pae"), BIT(0x80000001, 0, EDX, 7, "mce"), BIT(0x80000001, 0, EDX, 8, "cx8"),
	BIT(0x80000001, 0, EDX, 9, "apic"), BIT(0x80000001, 0, EDX, 11, "syscall"),
	BIT(0x80000001, 0, EDX, 12, "mtrr"), BIT(0x80000001, 0, EDX, 13, "pge"),
	BIT(0x80000001, 0, EDX, 14, "mca"), BIT(0x80000001, 0, EDX, 15, "cmov"),
	BIT(0x80000001, 0, EDX, 16, "pat"), BIT(0x80000001, 0, EDX, 17, "pse36"),
	BIT(0x80000001, 0, EDX, 19, "mp"), BIT(0x80000001, 0, EDX, 20, "nx"),
	BIT(0x80000001, 0, EDX, 22, "mmxext"), BIT(0x80000001, 0, EDX, 23, "mmx"),
	BIT(0x80000001, 0, EDX, 24, "fxsr"), BIT(0x80000001, 0, EDX, 25, "fxsr_opt"),
	BIT(0x80000001, 0, EDX, 26, "pdpe1gb"), BIT(0x80000001, 0, EDX, 27, "rdtscp"),
	BIT(0x80000001, 0, EDX, 29, "lm"), BIT(0x80000001, 0, EDX, 30, "3dnowext"),
	BIT(0x80000001, 0, EDX, 31, "3dnow"),
	BIT(0x80000007, 0, EDX, 0, "ts"), BIT(0x80000007, 0, EDX, 1, "fid"), BIT(0x80000007, 0, EDX, 2, "vid"),
	BIT(0x80000007, 0, EDX, 3, "ttp"), BIT(0x80000007, 0, EDX, 4, "tm"), BIT(0x80000007, 0, EDX, 5, "stc"),
	BIT(0x80000007, 0, EDX, 6, "100mhzsteps"), BIT(0x80000007, 0, EDX, 7, "hwpstate"),
	BIT(0x80000007, 0, EDX, 8, "invtsc"), BIT(0x80000007, 0, EDX, 9, "cpb"),
	BIT(0x80000007, 0, EDX, 10, "eff_freq_ro"), BIT(0x80000007, 0, EDX, 11, "proc_feedback"),
	BIT(0x80000007, 0, EDX, 12, "acc_power"),
	FLD(0x80000008, 0, EAX, 0, 8, "physical address bits"),
	FLD(0x80000008, 0, EAX, 8, 8, "linear address bits"),
	FLD(0x80000008, 0, EAX, 16, 8, "guest physical address bits"),
	BIT(0x80000008, 0, EBX, 0, "clzero"), BIT(0x80000008, 0, EBX, 1, "irperf"),
	BIT(0x80000008, 0, EBX, 2, "xsaveerptr"), BIT(0x80000008, 0, EBX, 4, "rdpru"),
	BIT(0x80000008, 0, EBX, 8, "mcommit"), BIT(0x80000008, 0, EBX, 9, "wbnoinvd"),
	BIT(0x80000008, 0, EBX, 12, "amd_ibpb"), BIT(0x80000008, 0, EBX, 14, "amd_ibrs"),
	BIT(0x80000008, 0, EBX, 15, "amd_stibp"), BIT(0x80000008, 0, EBX, 16, "amd_ibrs_always_on"),
	BIT(0x80000008, 0, EBX, 17, "amd_stibp_always_on"), BIT(0x80000008, 0, EBX, 18, "amd_ibrs_pref"),
	BIT(0x80000008, 0, EBX, 19, "amd_ibrs_same_mode"), BIT(0x80000008, 0, EBX, 20, "no_efer_lmsle"),
	BIT(0x80000008, 0, EBX, 23, "amd_ppin"), BIT(0x80000008, 0, EBX, 24, "amd_ssbd"),
	BIT(0x80000008, 0, EBX, 25, "virt_ssbd"), BIT(0x80000008, 0, EBX, 26, "amd_ssb_no"),
	BIT(0x80000008, 0, EBX, 27, "cppc"), BIT(0x80000008, 0, EBX, 28, "amd_psfd"),
	BIT(0x80000008, 0, EBX, 29, "btc_no"), BIT(0x80000008, 0, EBX, 30, "ibpb_brtype"),
	FLD(0x80000008, 0, ECX, 0, 8, "number of cores - 1"),
	FLD(0x80000008, 0, ECX, 12, 4, "APIC id size"),
};
const size_t ml_cpuid_fields_count = ML_ARRAY_SIZE(ml_cpuid_fields);

#define MSR(i, lo, w, n) { i, { lo, w, n } }
const struct ml_msr_field ml_msr_fields[] = {
	MSR(0x1b, 8, 1, "BSP"), MSR(0x1b, 10, 1, "x2APIC enable"), MSR(0x1b, 11, 1, "APIC global enable"),
	MSR(0x1b, 12, 40, "APIC base"),
	MSR(0x3a, 0, 1, "lock"), MSR(0x3a, 1, 1, "VMX inside SMX"), MSR(0x3a, 2, 1, "VMX outside SMX"),
	MSR(0x3a, 20, 1, "LMCE on"),
	MSR(0x10a, 0, 1, "rdcl_no"), MSR(0x10a, 1, 1, "ibrs_all"), MSR(0x10a, 2, 1, "rsba"),
	MSR(0x10a, 3, 1, "skip_l1dfl_vmentry"), MSR(0x10a, 4, 1, "ssb_no"), MSR(0x10a, 5, 1, "mds_no"),
	MSR(0x10a, 6, 1, "pschange_mc_no"), MSR(0x10a, 7, 1, "tsx_ctrl"), MSR(0x10a, 8, 1, "taa_no"),
	MSR(0x10a, 9, 1, "mcu_control"), MSR(0x10a, 10, 1, "misc_package_ctls"),
	MSR(0x10a, 11, 1, "energy_filtering_ctl"), MSR(0x10a, 12, 1, "doitm"),
	MSR(0x10a, 13, 1, "sbdr_ssdp_no"), MSR(0x10a, 14, 1, "fbsdp_no"), MSR(0x10a, 15, 1, "psdp_no"),
	MSR(0x10a, 17, 1, "fb_clear"), MSR(0x10a, 18, 1, "fb_clear_ctrl"), MSR(0x10a, 19, 1, "rrsba"),
	MSR(0x10a, 20, 1, "bhi_no"), MSR(0x10a, 21, 1, "xapic_disable_status"),
	MSR(0x10a, 24, 1, "pbrsb_no"), MSR(0x10a, 26, 1, "gds_ctrl"), MSR(0x10a, 27, 1, "gds_no"),
	MSR(0x10a, 28, 1, "rfds_no"), MSR(0x10a, 29, 1, "rfds_clear"),
	MSR(0x179, 0, 8, "bank count"), MSR(0x179, 8, 1, "MCG_CTL_P"), MSR(0x179, 9, 1, "MCG_EXT_P"),
	MSR(0x179, 10, 1, "MCG_CMCI_P"), MSR(0x179, 11, 1, "MCG_TES_P"), MSR(0x179, 24, 1, "MCG_SER_P"),
	MSR(0x179, 26, 1, "MCG_ELOG_P"), MSR(0x179, 27, 1, "MCG_LMCE_P"),
	MSR(0x1a0, 0, 1, "fast strings"), MSR(0x1a0, 3, 1, "automatic thermal control"),
	MSR(0x1a0, 7, 1, "performance monitoring"), MSR(0x1a0, 11, 1, "BTS unavailable"),
	MSR(0x1a0, 12, 1, "PEBS unavailable"), MSR(0x1a0, 16, 1, "enhanced SpeedStep"),
	MSR(0x1a0, 18, 1, "MONITOR/MWAIT"), MSR(0x1a0, 22, 1, "limit CPUID maxval"),
	MSR(0x1a0, 23, 1, "xTPR disable"), MSR(0x1a0, 34, 1, "XD disable"),
	MSR(0xfe, 0, 8, "variable range count"), MSR(0xfe, 8, 1, "fixed ranges"),
	MSR(0xfe, 10, 1, "write-combining"), MSR(0xfe, 11, 1, "SMRR"),
	MSR(0x2ff, 0, 8, "default type"), MSR(0x2ff, 10, 1, "fixed ranges enable"),
	MSR(0x2ff, 11, 1, "MTRR enable"),
	MSR(0xc0000080, 0, 1, "SCE"), MSR(0xc0000080, 8, 1, "LME"), MSR(0xc0000080, 10, 1, "LMA"),
	MSR(0xc0000080, 11, 1, "NXE"), MSR(0xc0000080, 12, 1, "SVME"), MSR(0xc0000080, 13, 1, "LMSLE"),
	MSR(0xc0000080, 14, 1, "FFXSR"), MSR(0xc0000080, 15, 1, "TCE"), MSR(0xc0000080, 21, 1, "AUTOIBRS"),
};
const size_t ml_msr_fields_count = ML_ARRAY_SIZE(ml_msr_fields);

const struct ml_virtio_feature ml_virtio_features[] = {
	/* transport (every device type) */
	{ 0, 24, "VIRTIO_F_NOTIFY_ON_EMPTY" }, { 0, 27, "VIRTIO_F_ANY_LAYOUT" },
	{ 0, 28, "VIRTIO_RING_F_INDIRECT_DESC" }, { 0, 29, "VIRTIO_RING_F_EVENT_IDX" },
	{ 0, 30, "VIRTIO_F_BAD_FEATURE" }, { 0, 32, "VIRTIO_F_VERSION_1" },
	{ 0, 33, "VIRTIO_F_ACCESS_PLATFORM" }, { 0, 34, "VIRTIO_F_RING_PACKED" },
	{ 0, 35, "VIRTIO_F_IN_ORDER" }, { 0, 36, "VIRTIO_F_ORDER_PLATFORM" }, { 0, 37, "VIRTIO_F_SR_IOV" },
	{ 0, 38, "VIRTIO_F_NOTIFICATION_DATA" }, { 0, 39, "VIRTIO_F_NOTIF_CONFIG_DATA" },
	{ 0, 40, "VIRTIO_F_RING_RESET" }, { 0, 41, "VIRTIO_F_ADMIN_VQ" },
	/* net (1) */
	{ 1, 0, "VIRTIO_NET_F_CSUM" }, { 1, 1, "VIRTIO_NET_F_GUEST_CSUM" },
	{ 1, 2, "VIRTIO_NET_F_CTRL_GUEST_OFFLOADS" }, { 1, 3, "VIRTIO_NET_F_MTU" },
	{ 1, 5, "VIRTIO_NET_F_MAC" }, { 1, 6, "VIRTIO_NET_F_GSO" }, { 1, 7, "VIRTIO_NET_F_GUEST_TSO4" },
	{ 1, 8, "VIRTIO_NET_F_GUEST_TSO6" }, { 1, 9, "VIRTIO_NET_F_GUEST_ECN" },
	{ 1, 10, "VIRTIO_NET_F_GUEST_UFO" }, { 1, 11, "VIRTIO_NET_F_HOST_TSO4" },
	{ 1, 12, "VIRTIO_NET_F_HOST_TSO6" }, { 1, 13, "VIRTIO_NET_F_HOST_ECN" },
	{ 1, 14, "VIRTIO_NET_F_HOST_UFO" }, { 1, 15, "VIRTIO_NET_F_MRG_RXBUF" },
	{ 1, 16, "VIRTIO_NET_F_STATUS" }, { 1, 17, "VIRTIO_NET_F_CTRL_VQ" }, { 1, 18, "VIRTIO_NET_F_CTRL_RX" },
	{ 1, 19, "VIRTIO_NET_F_CTRL_VLAN" }, { 1, 20, "VIRTIO_NET_F_CTRL_RX_EXTRA" },
	{ 1, 21, "VIRTIO_NET_F_GUEST_ANNOUNCE" }, { 1, 22, "VIRTIO_NET_F_MQ" },
	{ 1, 23, "VIRTIO_NET_F_CTRL_MAC_ADDR" }, { 1, 41, "VIRTIO_NET_F_GUEST_RSC4" },
	{ 1, 42, "VIRTIO_NET_F_GUEST_RSC6" }, { 1, 50, "VIRTIO_NET_F_DEVICE_STATS" },
	{ 1, 52, "VIRTIO_NET_F_VQ_NOTF_COAL" }, { 1, 53, "VIRTIO_NET_F_NOTF_COAL" },
	{ 1, 54, "VIRTIO_NET_F_GUEST_USO4" }, { 1, 55, "VIRTIO_NET_F_GUEST_USO6" },
	{ 1, 56, "VIRTIO_NET_F_HOST_USO" }, { 1, 57, "VIRTIO_NET_F_HASH_REPORT" },
	{ 1, 59, "VIRTIO_NET_F_GUEST_HDRLEN" }, { 1, 60, "VIRTIO_NET_F_RSS" },
	{ 1, 61, "VIRTIO_NET_F_RSC_EXT" }, { 1, 62, "VIRTIO_NET_F_STANDBY" },
	{ 1, 63, "VIRTIO_NET_F_SPEED_DUPLEX" },
	/* block (2) */
	{ 2, 0, "VIRTIO_BLK_F_BARRIER" }, { 2, 1, "VIRTIO_BLK_F_SIZE_MAX" }, { 2, 2, "VIRTIO_BLK_F_SEG_MAX" },
	{ 2, 4, "VIRTIO_BLK_F_GEOMETRY" }, { 2, 5, "VIRTIO_BLK_F_RO" }, { 2, 6, "VIRTIO_BLK_F_BLK_SIZE" },
	{ 2, 7, "VIRTIO_BLK_F_SCSI" }, { 2, 9, "VIRTIO_BLK_F_FLUSH" }, { 2, 10, "VIRTIO_BLK_F_TOPOLOGY" },
	{ 2, 11, "VIRTIO_BLK_F_CONFIG_WCE" }, { 2, 12, "VIRTIO_BLK_F_MQ" }, { 2, 13, "VIRTIO_BLK_F_DISCARD" },
	{ 2, 14, "VIRTIO_BLK_F_WRITE_ZEROES" }, { 2, 15, "VIRTIO_BLK_F_LIFETIME" },
	{ 2, 16, "VIRTIO_BLK_F_SECURE_ERASE" }, { 2, 17, "VIRTIO_BLK_F_ZONED" },
	/* console (3) */
	{ 3, 0, "VIRTIO_CONSOLE_F_SIZE" }, { 3, 1, "VIRTIO_CONSOLE_F_MULTIPORT" },
	{ 3, 2, "VIRTIO_CONSOLE_F_EMERG_WRITE" },
	/* balloon (5) */
	{ 5, 0, "VIRTIO_BALLOON_F_MUST_TELL_HOST" }, { 5, 1, "VIRTIO_BALLOON_F_STATS_VQ" },
	{ 5, 2, "VIRTIO_BALLOON_F_DEFLATE_ON_OOM" }, { 5, 3, "VIRTIO_BALLOON_F_FREE_PAGE_HINT" },
	{ 5, 4, "VIRTIO_BALLOON_F_PAGE_POISON" }, { 5, 5, "VIRTIO_BALLOON_F_REPORTING" },
	/* scsi (8) */
	{ 8, 0, "VIRTIO_SCSI_F_INOUT" }, { 8, 1, "VIRTIO_SCSI_F_HOTPLUG" }, { 8, 2, "VIRTIO_SCSI_F_CHANGE" },
	{ 8, 3, "VIRTIO_SCSI_F_T10_PI" },
};
const size_t ml_virtio_features_count = ML_ARRAY_SIZE(ml_virtio_features);

/* ---- PCI ----------------------------------------------------------------- */

static const struct ml_abi_reg header0[] = {
	{ 0x00, 2, "Vendor ID" }, { 0x02, 2, "Device ID" }, { 0x04, 2, "Command" }, { 0x06, 2, "Status" },
	{ 0x08, 1, "Revision ID" }, { 0x09, 3, "Class Code" }, { 0x0c, 1, "Cache Line Size" },
	{ 0x0d, 1, "Latency Timer" }, { 0x0e, 1, "Header Type" }, { 0x0f, 1, "BIST" },
	{ 0x10, 4, "BAR0" }, { 0x14, 4, "BAR1" }, { 0x18, 4, "BAR2" }, { 0x1c, 4, "BAR3" },
	{ 0x20, 4, "BAR4" }, { 0x24, 4, "BAR5" }, { 0x28, 4, "Cardbus CIS Pointer" },
	{ 0x2c, 2, "Subsystem Vendor ID" }, { 0x2e, 2, "Subsystem ID" },
	{ 0x30, 4, "Expansion ROM Base Address" }, { 0x34, 1, "Capabilities Pointer" },
	{ 0x35, 7, "Reserved" }, { 0x3c, 1, "Interrupt Line" }, { 0x3d, 1, "Interrupt Pin" },
	{ 0x3e, 1, "Min_Gnt" }, { 0x3f, 1, "Max_Lat" },
};
const struct ml_abi_layout ml_pci_header0 = { "header", 0x40, header0, ML_ARRAY_SIZE(header0) };

static const struct ml_abi_reg header1[] = {
	{ 0x00, 2, "Vendor ID" }, { 0x02, 2, "Device ID" }, { 0x04, 2, "Command" }, { 0x06, 2, "Status" },
	{ 0x08, 1, "Revision ID" }, { 0x09, 3, "Class Code" }, { 0x0c, 1, "Cache Line Size" },
	{ 0x0d, 1, "Latency Timer" }, { 0x0e, 1, "Header Type" }, { 0x0f, 1, "BIST" },
	{ 0x10, 4, "BAR0" }, { 0x14, 4, "BAR1" }, { 0x18, 1, "Primary Bus Number" },
	{ 0x19, 1, "Secondary Bus Number" }, { 0x1a, 1, "Subordinate Bus Number" },
	{ 0x1b, 1, "Secondary Latency Timer" }, { 0x1c, 1, "I/O Base" }, { 0x1d, 1, "I/O Limit" },
	{ 0x1e, 2, "Secondary Status" }, { 0x20, 2, "Memory Base" }, { 0x22, 2, "Memory Limit" },
	{ 0x24, 2, "Prefetchable Memory Base" }, { 0x26, 2, "Prefetchable Memory Limit" },
	{ 0x28, 4, "Prefetchable Base Upper 32 Bits" }, { 0x2c, 4, "Prefetchable Limit Upper 32 Bits" },
	{ 0x30, 2, "I/O Base Upper 16 Bits" }, { 0x32, 2, "I/O Limit Upper 16 Bits" },
	{ 0x34, 1, "Capabilities Pointer" }, { 0x35, 3, "Reserved" },
	{ 0x38, 4, "Expansion ROM Base Address" }, { 0x3c, 1, "Interrupt Line" },
	{ 0x3d, 1, "Interrupt Pin" }, { 0x3e, 2, "Bridge Control" },
};
const struct ml_abi_layout ml_pci_header1 = { "header", 0x40, header1, ML_ARRAY_SIZE(header1) };

#define LAYOUT(var, nm, sz, regs) static const struct ml_abi_layout var = { nm, sz, regs, ML_ARRAY_SIZE(regs) }

static const struct ml_abi_reg cap_pm[] = {
	{ 2, 2, "PMC" }, { 4, 2, "PMCSR" }, { 6, 1, "PMCSR_BSE" }, { 7, 1, "Data" },
};
LAYOUT(lay_pm, "pm", 8, cap_pm);
static const struct ml_abi_reg cap_msi[] = {
	{ 2, 2, "Message Control" }, { 4, 4, "Message Address" },
};
LAYOUT(lay_msi, "msi", 0, cap_msi); /* size from Message Control */
static const struct ml_abi_reg cap_msix[] = {
	{ 2, 2, "Message Control" }, { 4, 4, "Table Offset/BIR" }, { 8, 4, "PBA Offset/BIR" },
};
LAYOUT(lay_msix, "msi-x", 12, cap_msix);
static const struct ml_abi_reg cap_pcie[] = {
	{ 0x02, 2, "PCIe Capabilities" }, { 0x04, 4, "Device Capabilities" },
	{ 0x08, 2, "Device Control" }, { 0x0a, 2, "Device Status" }, { 0x0c, 4, "Link Capabilities" },
	{ 0x10, 2, "Link Control" }, { 0x12, 2, "Link Status" }, { 0x14, 4, "Slot Capabilities" },
	{ 0x18, 2, "Slot Control" }, { 0x1a, 2, "Slot Status" }, { 0x1c, 2, "Root Control" },
	{ 0x1e, 2, "Root Capabilities" }, { 0x20, 4, "Root Status" },
	{ 0x24, 4, "Device Capabilities 2" }, { 0x28, 2, "Device Control 2" },
	{ 0x2a, 2, "Device Status 2" }, { 0x2c, 4, "Link Capabilities 2" },
	{ 0x30, 2, "Link Control 2" }, { 0x32, 2, "Link Status 2" }, { 0x34, 4, "Slot Capabilities 2" },
	{ 0x38, 2, "Slot Control 2" }, { 0x3a, 2, "Slot Status 2" },
};
LAYOUT(lay_pcie, "pcie", 0x3c, cap_pcie);
static const struct ml_abi_reg cap_ssvid[] = { { 4, 2, "Subsystem Vendor ID" }, { 6, 2, "Subsystem ID" } };
LAYOUT(lay_ssvid, "ssvid", 8, cap_ssvid);
static const struct ml_abi_reg cap_vendor[] = { { 2, 1, "Length" } };
LAYOUT(lay_vendor, "vendor", 0, cap_vendor); /* size from the Length byte */
static const struct ml_abi_reg cap_sata[] = { { 2, 2, "Revision" }, { 4, 4, "BAR Location" } };
LAYOUT(lay_sata, "sata", 8, cap_sata);
static const struct ml_abi_reg cap_af[] = { { 2, 1, "AF Capabilities" }, { 4, 1, "AF Control" }, { 5, 1, "AF Status" } };
LAYOUT(lay_af, "af", 6, cap_af);

static const struct ml_abi_reg virtio_cap[] = {
	{ 2, 1, "Length" }, { 3, 1, "virtio cfg_type" }, { 4, 1, "virtio bar" }, { 5, 1, "virtio id" },
	{ 8, 4, "virtio offset" }, { 0xc, 4, "virtio length" }, { 0x10, 4, "virtio notify_off_multiplier" },
};
const struct ml_abi_layout ml_pci_virtio_cap = { "vendor", 0, virtio_cap, ML_ARRAY_SIZE(virtio_cap) };

static const struct ml_abi_reg ecap_aer[] = {
	{ 0x04, 4, "Uncorrectable Error Status" }, { 0x08, 4, "Uncorrectable Error Mask" },
	{ 0x0c, 4, "Uncorrectable Error Severity" }, { 0x10, 4, "Correctable Error Status" },
	{ 0x14, 4, "Correctable Error Mask" }, { 0x18, 4, "Advanced Error Capabilities and Control" },
	{ 0x1c, 16, "Header Log" }, { 0x2c, 4, "Root Error Command" }, { 0x30, 4, "Root Error Status" },
	{ 0x34, 4, "Error Source Identification" }, { 0x38, 16, "TLP Prefix Log" },
};
LAYOUT(lay_aer, "aer", 0x48, ecap_aer);
static const struct ml_abi_reg ecap_acs[] = { { 4, 2, "ACS Capability" }, { 6, 2, "ACS Control" } };
LAYOUT(lay_acs, "acs", 8, ecap_acs);
static const struct ml_abi_reg ecap_ari[] = { { 4, 2, "ARI Capability" }, { 6, 2, "ARI Control" } };
LAYOUT(lay_ari, "ari", 8, ecap_ari);
static const struct ml_abi_reg ecap_dsn[] = { { 4, 8, "Serial Number" } };
LAYOUT(lay_dsn, "dsn", 12, ecap_dsn);
static const struct ml_abi_reg ecap_ltr[] = { { 4, 2, "Max Snoop Latency" }, { 6, 2, "Max No-Snoop Latency" } };
LAYOUT(lay_ltr, "ltr", 8, ecap_ltr);
static const struct ml_abi_reg ecap_l1ss[] = {
	{ 4, 4, "L1 PM Substates Capabilities" }, { 8, 4, "L1 PM Substates Control 1" },
	{ 0xc, 4, "L1 PM Substates Control 2" },
};
LAYOUT(lay_l1ss, "l1ss", 0x10, ecap_l1ss);
static const struct ml_abi_reg ecap_ats[] = { { 4, 2, "ATS Capability" }, { 6, 2, "ATS Control" } };
LAYOUT(lay_ats, "ats", 8, ecap_ats);
static const struct ml_abi_reg ecap_pasid[] = { { 4, 2, "PASID Capability" }, { 6, 2, "PASID Control" } };
LAYOUT(lay_pasid, "pasid", 8, ecap_pasid);
static const struct ml_abi_reg ecap_pri[] = {
	{ 4, 2, "PRI Control" }, { 6, 2, "PRI Status" }, { 8, 4, "Outstanding Page Request Capacity" },
	{ 0xc, 4, "Outstanding Page Request Allocation" },
};
LAYOUT(lay_pri, "pri", 0x10, ecap_pri);
static const struct ml_abi_reg ecap_sriov[] = {
	{ 0x04, 4, "SR-IOV Capabilities" }, { 0x08, 2, "SR-IOV Control" }, { 0x0a, 2, "SR-IOV Status" },
	{ 0x0c, 2, "InitialVFs" }, { 0x0e, 2, "TotalVFs" }, { 0x10, 2, "NumVFs" },
	{ 0x12, 1, "Function Dependency Link" }, { 0x14, 2, "First VF Offset" }, { 0x16, 2, "VF Stride" },
	{ 0x1a, 2, "VF Device ID" }, { 0x1c, 4, "Supported Page Sizes" }, { 0x20, 4, "System Page Size" },
	{ 0x24, 4, "VF BAR0" }, { 0x28, 4, "VF BAR1" }, { 0x2c, 4, "VF BAR2" }, { 0x30, 4, "VF BAR3" },
	{ 0x34, 4, "VF BAR4" }, { 0x38, 4, "VF BAR5" }, { 0x3c, 4, "VF Migration State Array Offset" },
};
LAYOUT(lay_sriov, "sr-iov", 0x40, ecap_sriov);

const struct ml_abi_layout *ml_pci_cap_layout(const char *name, int ext)
{
	static const struct ml_abi_layout *const std[] = {
		&lay_pm, &lay_msi, &lay_msix, &lay_pcie, &lay_ssvid, &lay_vendor, &lay_sata, &lay_af,
	};
	static const struct ml_abi_layout *const extd[] = {
		&lay_aer, &lay_acs, &lay_ari, &lay_dsn, &lay_ltr, &lay_l1ss, &lay_ats, &lay_pasid,
		&lay_pri, &lay_sriov,
	};
	const struct ml_abi_layout *const *t = ext ? extd : std;
	size_t n = ext ? ML_ARRAY_SIZE(extd) : ML_ARRAY_SIZE(std);

	if (!name)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i]->name, name) == 0)
			return t[i];
	return NULL;
}

/* ---- SMBIOS -------------------------------------------------------------- */

#define SB(o, k, n) { o, 1, k, n }
#define SW(o, n) { o, 2, SMB_WORD, n }
#define SD(o, n) { o, 4, SMB_DWORD, n }
#define SQ(o, n) { o, 8, SMB_QWORD, n }
#define SS(o, n) { o, 1, SMB_STRING, n }

static const struct ml_smbios_field smb0[] = {
	SS(0x04, "Vendor"), SS(0x05, "BIOS Version"), SW(0x06, "BIOS Starting Address Segment"),
	SS(0x08, "BIOS Release Date"), SB(0x09, SMB_BYTE, "BIOS ROM Size"), SQ(0x0a, "BIOS Characteristics"),
	SB(0x12, SMB_BYTE, "Characteristics Extension Byte 1"),
	SB(0x13, SMB_BYTE, "Characteristics Extension Byte 2"), SB(0x14, SMB_BYTE, "System BIOS Major Release"),
	SB(0x15, SMB_BYTE, "System BIOS Minor Release"), SB(0x16, SMB_BYTE, "Embedded Controller Major Release"),
	SB(0x17, SMB_BYTE, "Embedded Controller Minor Release"), SW(0x18, "Extended BIOS ROM Size"),
};
static const struct ml_smbios_field smb1[] = {
	SS(0x04, "Manufacturer"), SS(0x05, "Product Name"), SS(0x06, "Version"), SS(0x07, "Serial Number"),
	{ 0x08, 16, SMB_UUID, "UUID" }, SB(0x18, SMB_BYTE, "Wake-up Type"), SS(0x19, "SKU Number"),
	SS(0x1a, "Family"),
};
static const struct ml_smbios_field smb3[] = {
	SS(0x04, "Manufacturer"), SB(0x05, SMB_BYTE, "Type"), SS(0x06, "Version"), SS(0x07, "Serial Number"),
	SS(0x08, "Asset Tag Number"), SB(0x09, SMB_BYTE, "Boot-up State"),
	SB(0x0a, SMB_BYTE, "Power Supply State"), SB(0x0b, SMB_BYTE, "Thermal State"),
	SB(0x0c, SMB_BYTE, "Security Status"), SD(0x0d, "OEM-defined"), SB(0x11, SMB_BYTE, "Height"),
	SB(0x12, SMB_BYTE, "Number of Power Cords"), SB(0x13, SMB_BYTE, "Contained Element Count"),
	SB(0x14, SMB_BYTE, "Contained Element Record Length"),
};
static const struct ml_smbios_field smb4[] = {
	SS(0x04, "Socket Designation"), SB(0x05, SMB_BYTE, "Processor Type"),
	SB(0x06, SMB_BYTE, "Processor Family"), SS(0x07, "Processor Manufacturer"),
	SQ(0x08, "Processor ID"), SS(0x10, "Processor Version"), SB(0x11, SMB_BYTE, "Voltage"),
	SW(0x12, "External Clock"), SW(0x14, "Max Speed"), SW(0x16, "Current Speed"),
	SB(0x18, SMB_BYTE, "Status"), SB(0x19, SMB_BYTE, "Processor Upgrade"), SW(0x1a, "L1 Cache Handle"),
	SW(0x1c, "L2 Cache Handle"), SW(0x1e, "L3 Cache Handle"), SS(0x20, "Serial Number"),
	SS(0x21, "Asset Tag"), SS(0x22, "Part Number"), SB(0x23, SMB_BYTE, "Core Count"),
	SB(0x24, SMB_BYTE, "Core Enabled"), SB(0x25, SMB_BYTE, "Thread Count"),
	SW(0x26, "Processor Characteristics"), SW(0x28, "Processor Family 2"), SW(0x2a, "Core Count 2"),
	SW(0x2c, "Core Enabled 2"), SW(0x2e, "Thread Count 2"), SW(0x30, "Thread Enabled"),
};
static const struct ml_smbios_field smb16[] = {
	SB(0x04, SMB_BYTE, "Location"), SB(0x05, SMB_BYTE, "Use"), SB(0x06, SMB_BYTE, "Error Correction Type"),
	SD(0x07, "Maximum Capacity"), SW(0x0b, "Error Information Handle"),
	SW(0x0d, "Number of Memory Devices"), SQ(0x0f, "Extended Maximum Capacity"),
};
static const struct ml_smbios_field smb17[] = {
	SW(0x04, "Physical Memory Array Handle"), SW(0x06, "Error Information Handle"),
	SW(0x08, "Total Width"), SW(0x0a, "Data Width"), SW(0x0c, "Size"), SB(0x0e, SMB_BYTE, "Form Factor"),
	SB(0x0f, SMB_BYTE, "Device Set"), SS(0x10, "Device Locator"), SS(0x11, "Bank Locator"),
	SB(0x12, SMB_BYTE, "Memory Type"), SW(0x13, "Type Detail"), SW(0x15, "Speed"),
	SS(0x17, "Manufacturer"), SS(0x18, "Serial Number"), SS(0x19, "Asset Tag"), SS(0x1a, "Part Number"),
	SB(0x1b, SMB_BYTE, "Attributes"), SD(0x1c, "Extended Size"), SW(0x20, "Configured Memory Speed"),
	SW(0x22, "Minimum Voltage"), SW(0x24, "Maximum Voltage"), SW(0x26, "Configured Voltage"),
};
static const struct ml_smbios_field smb19[] = {
	SD(0x04, "Starting Address"), SD(0x08, "Ending Address"), SW(0x0c, "Memory Array Handle"),
	SB(0x0e, SMB_BYTE, "Partition Width"), SQ(0x0f, "Extended Starting Address"),
	SQ(0x17, "Extended Ending Address"),
};
static const struct ml_smbios_field smb32[] = {
	{ 0x04, 6, SMB_BYTES, "Reserved" }, SB(0x0a, SMB_BYTE, "Boot Status"),
};

#define STYPE(t, n, f) { t, n, f, ML_ARRAY_SIZE(f) }
static const struct ml_smbios_type smbios_types[] = {
	STYPE(0, "BIOS Information", smb0), STYPE(1, "System Information", smb1),
	STYPE(3, "System Enclosure", smb3), STYPE(4, "Processor Information", smb4),
	STYPE(16, "Physical Memory Array", smb16), STYPE(17, "Memory Device", smb17),
	STYPE(19, "Memory Array Mapped Address", smb19), STYPE(32, "System Boot Information", smb32),
};

const struct ml_smbios_type *ml_smbios_type_info(unsigned type)
{
	for (size_t i = 0; i < ML_ARRAY_SIZE(smbios_types); i++)
		if (smbios_types[i].type == type)
			return &smbios_types[i];
	return NULL;
}
