#!/bin/sh
# A stock Postfix + Dovecot box, as an administrator sets one up by hand from Debian's packages:
# hosted mailboxes in a Postfix hash map, Dovecot users in a passwd-file, delivery over LMTP on
# a Unix socket, Maildir under one vmail user. No LDAP, no PigeonAir. mail-bench --compare-stock
# runs it on a bare lab node (the appliance image, nothing installed) to compare the same load.
# Usage: setup.sh HOSTNAME DOMAIN USER...   (local parts; each gets a mailbox)
set -eu
host=$1; domain=$2; shift 2
hostname "$host"
echo "$host" > /etc/mailname
getent group vmail >/dev/null || groupadd -g 5000 vmail
getent passwd vmail >/dev/null || useradd -u 5000 -g vmail -d /var/vmail -s /usr/sbin/nologin vmail
mkdir -p /var/vmail && chown vmail:vmail /var/vmail

cat > /etc/postfix/main.cf <<CF
compatibility_level = 3.10
myhostname = $host
mydestination = localhost
inet_interfaces = all
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = reject_unlisted_recipient
virtual_mailbox_domains = $domain
virtual_mailbox_maps = hash:/etc/postfix/vmailbox
virtual_alias_maps = hash:/etc/postfix/virtual
virtual_transport = lmtp:unix:private/dovecot-lmtp
CF
: > /etc/postfix/vmailbox
: > /etc/postfix/virtual
: > /etc/dovecot/users
for u in "$@"; do
  echo "$u@$domain $domain/$u/" >> /etc/postfix/vmailbox
  echo "$u@$domain:{PLAIN}stock-password:5000:5000::/var/vmail/$domain/$u::" >> /etc/dovecot/users
done
postmap /etc/postfix/vmailbox /etc/postfix/virtual
chown root:dovecot /etc/dovecot/users && chmod 640 /etc/dovecot/users

cat > /etc/dovecot/dovecot.conf <<CF
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
protocols = lmtp
ssl = no
mail_driver = maildir
mail_path = ~/Maildir
first_valid_uid = 5000
passdb passwd-file {
  passwd_file_path = /etc/dovecot/users
}
userdb passwd-file {
  passwd_file_path = /etc/dovecot/users
}
service lmtp {
  unix_listener /var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
CF
doveconf -n >/dev/null
postfix check
systemctl enable --quiet postfix dovecot
systemctl restart dovecot postfix
