#!/usr/bin/env python3
"""Writes the hand-made ABI dump fixtures of tests/unit/test-abi-diff.c: a
minimal valid dump (base.json) and variants, each differing from it in one
way. The dumps are small on purpose: every value is one a reader can check.
Run from anywhere; needs the AML files dsdt.aml and dsdt-changed.aml
(`iasl dsdt.asl`, `iasl dsdt-changed.asl`) beside this script."""
import copy, json, os

HERE = os.path.dirname(os.path.abspath(__file__))


def hexs(b):
    return bytes(b).hex()


def config(vendor, device, cls, rev, subv, subd, header=0, pin=0, caps=(), extra=None, bars=None):
    c = bytearray(256)
    c[0:2] = vendor.to_bytes(2, "little")
    c[2:4] = device.to_bytes(2, "little")
    c[4:6] = (0x0107 if caps else 0x0003).to_bytes(2, "little")      # command
    c[6:8] = (0x0010 if caps else 0x0000).to_bytes(2, "little")      # status: cap list
    c[8] = rev
    c[9:12] = cls.to_bytes(3, "little")
    c[0x0e] = header
    c[0x2c:0x2e] = subv.to_bytes(2, "little")
    c[0x2e:0x30] = subd.to_bytes(2, "little")
    c[0x3d] = pin
    c[0x3c] = 11 if pin else 0
    for off, val in (bars or {}).items():
        c[off:off + 4] = val.to_bytes(4, "little")
    # capabilities: list of (offset, id, body bytes after id/next)
    if caps:
        c[0x34] = caps[0][0]
        for i, (off, cid, body) in enumerate(caps):
            c[off] = cid
            c[off + 1] = caps[i + 1][0] if i + 1 < len(caps) else 0
            c[off + 2:off + 2 + len(body)] = bytes(body)
    for off, val in (extra or {}).items():
        c[off:off + len(val)] = bytes(val)
    return c


def virtio_cap(cfg_type, bar, offset, length, mult=None):
    body = [0x14 if mult is not None else 0x10, cfg_type, bar, 0, 0, 0]
    body += list(offset.to_bytes(4, "little")) + list(length.to_bytes(4, "little"))
    if mult is not None:
        body += list(mult.to_bytes(4, "little"))
    return body


NET_CAPS = [
    (0x98, 0x11, [0x02, 0x80, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00]),  # msi-x, 3 vectors
    (0x84, 0x09, virtio_cap(5, 0, 0, 0)),              # pci cfg
    (0x70, 0x09, virtio_cap(2, 4, 0x3000, 0x1000, 4)),  # notify
    (0x60, 0x09, virtio_cap(4, 4, 0x2000, 0x1000)),     # device cfg
    (0x50, 0x09, virtio_cap(3, 4, 0x1000, 0x1000)),     # isr
    (0x40, 0x09, virtio_cap(1, 4, 0x0000, 0x1000)),     # common cfg
]
NET_BARS = {0x10: 0xc001, 0x14: 0xfebd1000, 0x20: 0xfe00000c, 0x24: 0}


def net_caps_list(caps):
    names = {0x11: "msi-x", 0x09: "vendor", 0x10: "pcie", 0x05: "msi", 0x01: "pm"}
    return [{"id": cid, "offset": off, "name": names[cid]} for off, cid, _ in caps]


def base():
    aml = open(os.path.join(HERE, "dsdt.aml"), "rb").read()
    host = config(0x8086, 0x29c0, 0x060000, 0x02, 0x1af4, 0x1100,
                  extra={0x60: [0x01, 0x00, 0x00, 0xb0]})
    net = config(0x1af4, 0x1000, 0x020000, 0x00, 0x1af4, 0x0001, pin=1, caps=NET_CAPS, bars=NET_BARS)
    smbios_type1 = [1, 0x1b, 0x00, 0x01, 1, 2, 3, 0] + [0x11] * 16 + [6, 0, 0]
    smbios_type0 = [0, 0x1a, 0x00, 0x00, 1, 2, 0x00, 0xe8, 3, 0] + [0x08, 0, 0, 0, 0, 0, 0, 0] + \
                   [0, 0x1c, 0, 0, 0xff, 0xff, 0, 0]
    return {
        "schema": "miglab-abi/1",
        "agent": {"name": "miglab-probe", "version": "0.2.0"},
        "kernel": {"release": "6.1.0-28-amd64", "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1",
                   "machine": "x86_64", "cmdline": "console=ttyS0 quiet"},
        "boot_id": "0d6c1c52-7a43-4b8e-9a1e-3f1f5e0c2a11",
        "uptime_ms": 4123,
        "cpuid": {
            "max_basic": 13, "max_extended": 2147483656,
            "leaves": [
                {"leaf": 0, "subleaf": 0, "eax": 13, "ebx": 1970169159, "ecx": 1818588270, "edx": 1231384169},
                {"leaf": 1, "subleaf": 0, "eax": 0x000906ea, "ebx": 0x00000800, "ecx": 0xfffa3203, "edx": 0x0f8bfbff},
                {"leaf": 7, "subleaf": 0, "eax": 0, "ebx": 0x009c4fbb, "ecx": 0x00000004, "edx": 0xac000400},
                {"leaf": 13, "subleaf": 0, "eax": 7, "ebx": 832, "ecx": 832, "edx": 0},
                {"leaf": 13, "subleaf": 1, "eax": 1, "ebx": 0, "ecx": 0, "edx": 0},
                {"leaf": 0x40000000, "subleaf": 0, "eax": 0x40000001, "ebx": 0x4b4d564b, "ecx": 0x564b4d56, "edx": 0x4d},
                {"leaf": 0x40000001, "subleaf": 0, "eax": 0x01007afb, "ebx": 0, "ecx": 0, "edx": 0},
                {"leaf": 0x80000000, "subleaf": 0, "eax": 0x80000008, "ebx": 0, "ecx": 0, "edx": 0},
                {"leaf": 0x80000001, "subleaf": 0, "eax": 0x000906ea, "ebx": 0, "ecx": 0x00000121, "edx": 0x2c100800},
                {"leaf": 0x80000007, "subleaf": 0, "eax": 0, "ebx": 0, "ecx": 0, "edx": 0},
                {"leaf": 0x80000008, "subleaf": 0, "eax": 0x00003027, "ebx": 0, "ecx": 0, "edx": 0},
            ],
        },
        "msr": {
            "source": "/dev/cpu/0/msr",
            "registers": [
                {"index": "0x00000010", "name": "IA32_TIME_STAMP_COUNTER", "value": "0x00000003a1b2c3d4"},
                {"index": "0x0000001b", "name": "IA32_APIC_BASE", "value": "0x00000000fee00900"},
                {"index": "0x0000010a", "name": "IA32_ARCH_CAPABILITIES", "value": "0x000000000000006b"},
                {"index": "0x00000480", "name": "IA32_VMX_BASIC", "error": "EIO"},
                {"index": "0x4b564d01", "name": "MSR_KVM_SYSTEM_TIME_NEW", "value": "0x000000007fe01001"},
                {"index": "0xc0000080", "name": "EFER", "value": "0x0000000000000d01"},
                {"index": "0xc0000082", "name": "LSTAR", "value": "0xffffffff8d800080"},
            ],
        },
        "pci": {"devices": [
            {"bdf": "0000:00:00.0", "vendor": 0x8086, "device": 0x29c0, "subsystem_vendor": 0x1af4,
             "subsystem_device": 0x1100, "class": 0x060000, "revision": 2, "header_type": 0,
             "config": hexs(host), "capabilities": [], "ext_capabilities": [], "bars": [], "driver": None},
            {"bdf": "0000:00:02.0", "vendor": 0x1af4, "device": 0x1000, "subsystem_vendor": 0x1af4,
             "subsystem_device": 1, "class": 0x020000, "revision": 0, "header_type": 0,
             "config": hexs(net), "capabilities": net_caps_list(NET_CAPS), "ext_capabilities": [],
             "bars": [{"index": 0, "type": "io", "size": 32, "prefetchable": False},
                      {"index": 1, "type": "mem32", "size": 4096, "prefetchable": False},
                      {"index": 4, "type": "mem64", "size": 16384, "prefetchable": True}],
             "driver": "virtio-pci"},
        ]},
        "acpi": {"tables": [
            {"signature": "DSDT", "instance": 0, "length": len(aml), "revision": aml[8],
             "oem_id": "BOCHS ", "oem_table_id": "BXPC    ", "oem_revision": 1, "creator_id": "INTL",
             "creator_revision": int.from_bytes(aml[32:36], "little"), "data": aml.hex()},
        ]},
        "smbios": {
            "entry_point": "5f534d335f" + "00" * 19, "version": "3.0",
            "structures": [
                {"type": 0, "handle": 0, "length": 0x1a, "formatted": hexs(smbios_type0),
                 "strings": ["SeaBIOS", "1.16.2-debian-1.16.2-1", "04/01/2014"]},
                {"type": 1, "handle": 256, "length": 0x1b, "formatted": hexs(smbios_type1),
                 "strings": ["QEMU", "Standard PC (Q35 + ICH9, 2009)", "pc-q35-7.2"]},
            ],
        },
        "virtio": {"devices": [
            {"bdf": "0000:00:02.0", "name": "virtio0", "device_id": 1, "type": "net", "transport": "modern",
             "features_offered": "0x010001010f3fffe7", "features_negotiated": "0x0000000130bf8024",
             "queues": [{"index": 0, "size": 256}, {"index": 1, "size": 256}, {"index": 2, "size": 64}]},
        ]},
        "memory_map": {"source": "/sys/firmware/memmap", "entries": [
            {"start": "0x0000000000000000", "end": "0x000000000009fbff", "type": "System RAM"},
            {"start": "0x000000000009fc00", "end": "0x000000000009ffff", "type": "Reserved"},
            {"start": "0x0000000000100000", "end": "0x000000007ffdafff", "type": "System RAM"},
        ]},
        "cpu": {"vendor_id": "GenuineIntel", "family": 6, "model": 158, "stepping": 10,
                "model_name": "Intel Core Processor (Skylake, IBRS)", "microcode": "0x1",
                "flags": ["apic", "erms", "fpu", "hypervisor", "sse2"], "bugs": ["spectre_v1"],
                "address_sizes": "39 bits physical, 48 bits virtual", "count": 1},
        "clocksource": {"current": "kvm-clock", "available": ["acpi_pm", "kvm-clock", "tsc"]},
    }


def write(name, doc):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def main():
    b = base()
    write("base.json", b)

    v = copy.deepcopy(b)  # CPUID leaf 7.0 EBX bit 9 (erms) cleared
    v["cpuid"]["leaves"][2]["ebx"] &= ~(1 << 9)
    write("cpuid-bit.json", v)

    v = copy.deepcopy(b)  # a PCIe capability added to the virtio NIC, after MSI-X
    net = bytearray.fromhex(v["pci"]["devices"][1]["config"])
    pcie = [0x10, 0x98 + 0x0c, 0x02, 0x00] + [0x00] * 0x38
    pcie[0x04:0x08] = [0x00, 0x80, 0x00, 0x00]  # device capabilities: role-based error reporting
    pcie[0x0a] = 0x04                           # device status: an event (volatile)
    msix_next = net[0x99]
    net[0x99] = 0xa4                             # msi-x -> pcie -> (old next)
    net[0xa4:0xa4 + 0x3c] = bytes(pcie)
    net[0xa5] = msix_next
    v["pci"]["devices"][1]["config"] = net.hex()
    v["pci"]["devices"][1]["capabilities"].insert(1, {"id": 0x10, "offset": 0xa4, "name": "pcie"})
    write("pci-cap.json", v)

    v = copy.deepcopy(b)  # the DSDT gains a name
    aml = open(os.path.join(HERE, "dsdt-changed.aml"), "rb").read()
    t = v["acpi"]["tables"][0]
    t["data"], t["length"] = aml.hex(), len(aml)
    write("acpi-changed.json", v)

    v = copy.deepcopy(b)  # VIRTIO_NET_F_HOST_USO (bit 56) no longer offered
    v["virtio"]["devices"][0]["features_offered"] = "0x000001010f3fffe7"
    write("virtio-uso.json", v)

    v = copy.deepcopy(b)  # the SMBIOS system product name changed
    v["smbios"]["structures"][1]["strings"][1] = "Standard PC (Q35 + ICH9, 2009), patched"
    write("smbios-string.json", v)

    v = copy.deepcopy(b)  # only volatile values differ
    v["boot_id"] = "7f3e2d1c-0000-4000-8000-000000000001"
    v["uptime_ms"] = 98765
    v["agent"]["version"] = "0.3.0"
    v["kernel"]["cmdline"] = "console=ttyS0 quiet miglab.phase=reboot-dst"
    regs = v["msr"]["registers"]
    regs[0]["value"] = "0x0000000fffffffff"
    regs[4]["value"] = "0x000000007fe02001"
    regs[6]["value"] = "0xffffffffa1200080"
    net = bytearray.fromhex(v["pci"]["devices"][1]["config"])
    net[0x06] |= 0x08  # status: interrupt pending
    v["pci"]["devices"][1]["config"] = net.hex()
    write("volatile-only.json", v)

    # bad inputs
    with open(os.path.join(HERE, "bad-not-json.json"), "w") as f:
        f.write('{"schema": "miglab-abi/1", "cpuid": \n')
    write("bad-schema.json", dict(b, schema="miglab-abi/0"))
    v = copy.deepcopy(b)
    del v["virtio"]
    write("bad-missing-section.json", v)
    v = copy.deepcopy(b)
    del v["pci"]["devices"][1]["bdf"]
    write("bad-device.json", v)


main()
