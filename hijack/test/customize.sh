#!/usr/bin/env bash
# Runs inside the freshly imported Debian rootfs: makes it look like an unhardened Kubernetes node.
set -euo pipefail

# Login users with passwords, one with an empty password, and a root password.
useradd -m -s /bin/bash alice
echo 'alice:wonderland' | chpasswd
useradd -m -s /bin/bash bob
passwd -d bob >/dev/null
echo 'root:toor' | chpasswd

# sshd ready to run in the foreground.
mkdir -p /run/sshd
[[ -s /etc/ssh/ssh_host_ed25519_key ]] || ssh-keygen -A

# Gettys: systemd ships getty@/serial-getty@ units; enable tty1 and a serial console like a VM has.
mkdir -p /etc/systemd/system/getty.target.wants
ln -sf /lib/systemd/system/getty@.service /etc/systemd/system/getty.target.wants/getty@tty1.service
ln -sf /lib/systemd/system/serial-getty@.service /etc/systemd/system/getty.target.wants/serial-getty@ttyS0.service

# Insecure kubelet config, as kubeadm leaves it, and a flag override in an env file.
mkdir -p /var/lib/kubelet /etc/default
cat >/var/lib/kubelet/config.yaml <<'YAML'
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
  webhook:
    cacheTTL: 0s
    enabled: true
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
authorization:
  mode: AlwaysAllow
clusterDNS:
- 10.96.0.10
clusterDomain: cluster.local
enableDebuggingHandlers: true
readOnlyPort: 10255
featureGates:
  ContainerCheckpoint: true
  RotateKubeletServerCertificate: true
YAML
echo 'KUBELET_EXTRA_ARGS="--node-ip=10.0.0.5 --read-only-port=10255 --anonymous-auth=true"' >/etc/default/kubelet
# The checkpoint API turned on again by a flag in a drop-in, next to a gate that must be kept.
mkdir -p /etc/systemd/system/kubelet.service.d
printf '[Service]\nEnvironment="KUBELET_GATES=--feature-gates=ContainerCheckpoint=true,RotateKubeletServerCertificate=true"\n' \
  >/etc/systemd/system/kubelet.service.d/20-gates.conf
printf '#!/bin/sh\necho fake kubelet\n' >/usr/bin/kubelet
printf '[Unit]\nDescription=kubelet\n[Service]\nExecStart=/usr/bin/kubelet\n[Install]\nWantedBy=multi-user.target\n' \
  >/lib/systemd/system/kubelet.service

# Container runtime CLIs (fakes) and a world-writable runtime socket path.
for cli in /usr/local/bin/crictl /usr/bin/ctr /usr/local/bin/nerdctl; do
  printf '#!/bin/sh\necho fake %s\n' "$(basename "$cli")" >"$cli"
  chmod 0755 "$cli"
done
mkdir -p /run/containerd
: >/run/containerd/containerd.sock
chmod 0666 /run/containerd/containerd.sock
printf '[Service]\nExecStart=/usr/bin/containerd\n[Install]\nWantedBy=multi-user.target\n' \
  >/lib/systemd/system/containerd.service

# A remote agent: qemu guest agent (fake binary + enabled unit).
printf '#!/bin/sh\nexec sleep infinity\n' >/usr/sbin/qemu-ga
chmod 0755 /usr/sbin/qemu-ga
printf '[Service]\nExecStart=/usr/sbin/qemu-ga\n[Install]\nWantedBy=multi-user.target\n' \
  >/lib/systemd/system/qemu-guest-agent.service
mkdir -p /etc/systemd/system/multi-user.target.wants
ln -sf /lib/systemd/system/qemu-guest-agent.service /etc/systemd/system/multi-user.target.wants/qemu-guest-agent.service
ln -sf /lib/systemd/system/ssh.service /etc/systemd/system/multi-user.target.wants/ssh.service

# Swap lines in fstab.
cat >/etc/fstab <<'FSTAB'
# /etc/fstab: static file system information.
UUID=0a1b2c3d / ext4 errors=remount-ro 0 1
/swapfile none swap sw 0 0
UUID=deadbeef none swap sw 0 0
FSTAB
