#!/usr/bin/env bash
# Privilege checks of POST .../mtunnel against the real daemon.  The
# call needs VM.Allocate on /vms/VMID, Sys.Incoming on / and, for each
# storage listed, Datastore.AllocateSpace on /storage/ID.  Each missing
# privilege gives a 403 whose reason and message name the path and the
# privilege.  The rejected call writes nothing and starts no tunnel.
# Granting exactly that privilege, with mtunnelctl or by editing a custom
# role and sending SIGHUP, turns the 403 into a 200.  A
# privilege-separated token gets only what its own ACLs and its user's
# both grant, and NoAccess on one VM hides only that VM.
. "$(dirname "$0")/lib.sh"

# expect_denied VMID PATH PRIVILEGE WHAT [CURL-ARG...]: the POST for VMID
# gets "403 Permission check failed (PATH, PRIVILEGE)" and changes
# nothing.
expect_denied()
{
	local vmid=$1 path=$2 priv=$3 what=$4 before tunnels msg

	shift 4
	before=$(mt_vmid_state "$vmid")
	tunnels=$(mt_count_lines '^parent: started tunnel ')
	mt_post_mtunnel "$vmid" "$@"
	mt_expect 403 "$what"
	msg="Permission check failed ($path, $priv)"
	[ "$MT_REASON" = "$msg" ] ||
	    mt_fail "$what: reason phrase '$MT_REASON', expected '$msg'"
	mt_expect_json .message "$msg" "$what"
	mt_expect_json '.message | endswith("\n")' true "$what"
	[ "$(mt_vmid_state "$vmid")" = "$before" ] ||
	    mt_fail "$what: the rejected call changed the disk: was" \
	    "'$before', now '$(mt_vmid_state "$vmid")'"
	[ "$(mt_count_lines '^parent: started tunnel ')" = "$tunnels" ] ||
	    mt_fail "$what: the rejected call started a tunnel"
	grep -q "mtunnel for vmid $vmid by '.*' rejected\$" "$MT_LOG" ||
	    mt_fail "$what: no 'mtunnel for vmid $vmid by ... rejected' line"
}

# expect_allowed VMID WHAT [CURL-ARG...]: the POST for VMID succeeds.
expect_allowed()
{
	local vmid=$1 what=$2

	shift 2
	mt_post_mtunnel "$vmid" "$@"
	mt_expect 200 "$what"
	mt_expect_json .data.socket "/run/qemu-server/$vmid.mtunnel" "$what"
	[ -e "$MT_CONFDIR/qemu-server/$vmid.conf" ] ||
	    mt_fail "$what: no config $MT_CONFDIR/qemu-server/$vmid.conf"
}

mt_api_init
mt_storages

mt_token 'mig@pve!t1'
ADMIN=$MT_AUTH
mt_token 'pveadm@pve!t1'
PVEADMIN=$MT_AUTH
mt_token 'pveadm@pve!sep' "" 1
PVEADMIN_SEP=$MT_AUTH
mt_token 'inc@pve!t1'
INCOMING=$MT_AUTH
mt_token 'nostore@pve!t1'
NOSTORE=$MT_AUTH
mt_token 'mig@pve!sep' "" 1
ADMIN_SEP=$MT_AUTH
mt_token 'noacc@pve!t1'
NOACCESS=$MT_AUTH

# mtunnelctl has no command for roles: append them by hand, before the
# ACLs that use them.  Incoming lacks VM.Allocate, MigrateNoStore lacks
# Datastore.AllocateSpace.
printf '%s\n' "" "role:Incoming:Sys.Incoming:" \
    "role:MigrateNoStore:Sys.Incoming,VM.Allocate:" \
    >>"$MT_CONFDIR/user.cfg" || mt_fail "cannot append to user.cfg"

mt_ctl acl set / Administrator mig@pve
mt_ctl acl set / PVEAdmin pveadm@pve
mt_ctl acl set / Administrator 'pveadm@pve!sep'
mt_ctl acl set / Incoming inc@pve
mt_ctl acl set / MigrateNoStore nostore@pve
mt_ctl acl set / Administrator noacc@pve
mt_ctl acl set /vms/100 NoAccess noacc@pve

mt_api_start

# The administrator token may do everything, with a storage too.
MT_AUTH=$ADMIN
expect_allowed 300 "POST mtunnel as Administrator" -d storages=vmstore \
    -d bridges=

# PVEAdmin has VM.Allocate but not Sys.Incoming.
MT_AUTH=$PVEADMIN
expect_denied 200 / Sys.Incoming "POST mtunnel as PVEAdmin"

# Sys.Incoming alone (a custom role) lacks VM.Allocate on the VM.
MT_AUTH=$INCOMING
expect_denied 201 /vms/201 VM.Allocate "POST mtunnel with Sys.Incoming only"

# Add VM.Allocate to the custom role by hand, then SIGHUP.
old_role=role:Incoming:Sys.Incoming:
new_role=role:Incoming:Sys.Incoming,VM.Allocate:
sed -i "s/^$old_role\$/$new_role/" "$MT_CONFDIR/user.cfg" ||
    mt_fail "cannot edit user.cfg"
grep -qxF "$new_role" "$MT_CONFDIR/user.cfg" ||
    mt_fail "role Incoming not changed: $(cat "$MT_CONFDIR/user.cfg")"
mt_hup
expect_allowed 201 "POST mtunnel after adding VM.Allocate to the role"

# A storage needs Datastore.AllocateSpace on /storage/ID; with no
# storage listed, the same token is allowed.
MT_AUTH=$NOSTORE
expect_denied 202 /storage/vmstore Datastore.AllocateSpace \
    "POST mtunnel with storage vmstore but no datastore privilege" \
    -d storages=vmstore -d bridges=
expect_allowed 203 "POST mtunnel without storages, no datastore privilege"
mt_ctl acl set /storage/vmstore PVEDatastoreUser nostore@pve
expect_allowed 202 "POST mtunnel with PVEDatastoreUser on /storage/vmstore" \
    -d storages=vmstore -d bridges=

# A privilege-separated token without ACLs of its own has nothing, even
# though its user is Administrator; its own ACL then grants it.
MT_AUTH=$ADMIN_SEP
expect_denied 204 /vms/204 VM.Allocate \
    "POST mtunnel with a privsep token without ACLs"
mt_ctl acl set / Administrator 'mig@pve!sep'
expect_allowed 204 "POST mtunnel with a privsep token with its own ACL"

# A privilege-separated token never exceeds its user: Administrator on
# the token, PVEAdmin on its user, leaves no Sys.Incoming.
MT_AUTH=$PVEADMIN_SEP
expect_denied 205 / Sys.Incoming \
    "POST mtunnel with a privsep Administrator token of a PVEAdmin user"

# NoAccess on /vms/100 takes everything there, and nothing elsewhere.
MT_AUTH=$NOACCESS
expect_denied 100 /vms/100 VM.Allocate \
    "POST mtunnel for 100 with NoAccess on /vms/100"
expect_allowed 101 "POST mtunnel for 101 with NoAccess on /vms/100 only"

mt_alive "$MT_PID" || mt_fail "the daemon exited during the test"
mt_stop || mt_fail "the daemon exited with status $? after SIGTERM"
exit 0
