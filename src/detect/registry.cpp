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
    detectors.push_back(make_ftp_detector());
    detectors.push_back(make_smtp_detector());
    detectors.push_back(make_imap_detector());
    for (size_t i = 0; i < detectors.size(); ++i) detectors[i]->slot = i;
    return detectors;
}

}  // namespace pw::detect
