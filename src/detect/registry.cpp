#include "detect/detector.h"

namespace pw::detect {

// Each protocol family's file defines its factory.
std::unique_ptr<Detector> make_tls_detector();
std::unique_ptr<Detector> make_ssh_detector();
std::unique_ptr<Detector> make_http_detector();
std::unique_ptr<Detector> make_http2_detector();
std::unique_ptr<Detector> make_dns_detector();
std::unique_ptr<Detector> make_ntp_detector();
std::unique_ptr<Detector> make_smtp_detector();
std::unique_ptr<Detector> make_imap_detector();
std::unique_ptr<Detector> make_ftp_detector();
std::unique_ptr<Detector> make_icmp_detector();
std::unique_ptr<Detector> make_snmp_detector();
std::unique_ptr<Detector> make_isakmp_detector();
std::unique_ptr<Detector> make_hsrp_detector();
std::unique_ptr<Detector> make_pptp_detector();
std::unique_ptr<Detector> make_mysql_detector();
std::unique_ptr<Detector> make_nats_detector();
std::unique_ptr<Detector> make_bittorrent_detector();
std::unique_ptr<Detector> make_ghost_rat_detector();
std::unique_ptr<Detector> make_zeus_detector();
std::unique_ptr<Detector> make_remote_shell_detector();
std::unique_ptr<Detector> make_finger_detector();
std::unique_ptr<Detector> make_irc_detector();
std::unique_ptr<Detector> make_xmpp_detector();
std::unique_ptr<Detector> make_oscar_detector();
std::unique_ptr<Detector> make_socks_detector();
std::unique_ptr<Detector> make_tftp_detector();
std::unique_ptr<Detector> make_netbios_detector();
std::unique_ptr<Detector> make_smb_detector();
std::unique_ptr<Detector> make_msrpc_detector();
std::unique_ptr<Detector> make_kerberos_detector();
std::unique_ptr<Detector> make_ldap_detector();
std::unique_ptr<Detector> make_mssql_detector();
std::unique_ptr<Detector> make_msmq_detector();

std::vector<std::unique_ptr<Detector>> make_detectors() {
    std::vector<std::unique_ptr<Detector>> detectors;
    // Order matters only where two detectors could accept the same first bytes: the more
    // specific one comes first.
    detectors.push_back(make_icmp_detector());
    detectors.push_back(make_tls_detector());
    detectors.push_back(make_ssh_detector());
    detectors.push_back(make_http2_detector());
    detectors.push_back(make_http_detector());
    detectors.push_back(make_dns_detector());
    detectors.push_back(make_ntp_detector());
    // After DNS, which takes a name service query sent to the DNS port and leaves port 137.
    detectors.push_back(make_netbios_detector());
    detectors.push_back(make_smb_detector());
    detectors.push_back(make_msrpc_detector());
    detectors.push_back(make_kerberos_detector());
    detectors.push_back(make_ldap_detector());
    detectors.push_back(make_mssql_detector());
    detectors.push_back(make_msmq_detector());
    detectors.push_back(make_ftp_detector());
    detectors.push_back(make_smtp_detector());
    detectors.push_back(make_imap_detector());
    detectors.push_back(make_snmp_detector());
    detectors.push_back(make_isakmp_detector());
    detectors.push_back(make_hsrp_detector());
    detectors.push_back(make_pptp_detector());
    detectors.push_back(make_mysql_detector());
    detectors.push_back(make_nats_detector());
    detectors.push_back(make_bittorrent_detector());
    detectors.push_back(make_ghost_rat_detector());
    detectors.push_back(make_zeus_detector());
    detectors.push_back(make_remote_shell_detector());
    detectors.push_back(make_finger_detector());
    detectors.push_back(make_irc_detector());
    detectors.push_back(make_xmpp_detector());
    detectors.push_back(make_oscar_detector());
    detectors.push_back(make_socks_detector());
    detectors.push_back(make_tftp_detector());
    for (size_t i = 0; i < detectors.size(); ++i) detectors[i]->slot = i;
    return detectors;
}

}  // namespace pw::detect
