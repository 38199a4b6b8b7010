#include "tests/support/slapd.h"

#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "tests/support/postgres.h"

namespace sealgate::testing {
namespace {

constexpr const char* kSlapd = "/usr/sbin/slapd";
constexpr const char* kRootDn = "cn=admin,dc=example,dc=org";

std::string slapdConf(const std::string& dir, const std::string& rootPwHash) {
  std::ostringstream c;
  for (const char* schema : {"core", "cosine", "nis", "inetorgperson"}) {
    c << "include /etc/ldap/schema/" << schema << ".schema\n";
  }
  c << "pidfile " << dir << "/slapd.pid\n"
    << "argsfile " << dir << "/slapd.args\n"
    << "modulepath /usr/lib/ldap\n"
    << "moduleload back_mdb\n"
    << "TLSCACertificateFile " << dir << "/ca.pem\n"
    << "TLSCertificateFile " << dir << "/server.pem\n"
    << "TLSCertificateKeyFile " << dir
    << "/server.key\n"
    // Passwords may only be used to bind; everything else needs a bound user, so
    // a test that gets data back proves the bind happened.
    << "access to attrs=userPassword by anonymous auth by self auth by * none\n"
    << "access to * by users read by * none\n"
    << "database mdb\n"
    << "maxsize 16777216\n"
    << "suffix \"" << Slapd::kBaseDn << "\"\n"
    << "rootdn \"" << kRootDn << "\"\n"
    << "rootpw " << rootPwHash << "\n"
    << "directory " << dir << "/db\n";
  return c.str();
}

std::string baseLdif(const std::string& servicePassword) {
  std::ostringstream l;
  l << "dn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
       "o: Example\ndc: example\n\n"
    << "dn: cn=svc,dc=example,dc=org\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: svc\nsn: svc\n"
    << "userPassword: " << servicePassword << "\n\n"
    << "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n";
  for (const char* name : {"Alice", "Bob", "Carol"}) {
    std::string uid = name;
    uid[0] = static_cast<char>(uid[0] - 'A' + 'a');
    l << "dn: uid=" << uid << ",ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: " << uid
      << "\ncn: " << name << " Example\nsn: Example\nmail: " << uid << "@example.org\n\n";
  }
  return l.str();
}

void makeCa(const std::string& dir, const std::string& name) {
  runShellOrThrow("cd " + dir +
                      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                      "-subj /CN=sealgate-test-" +
                      name +
                      " -addext basicConstraints=critical,CA:TRUE "
                      "-addext keyUsage=critical,keyCertSign,cRLSign -keyout " +
                      name + ".key -out " + name + ".pem 2>/dev/null",
                  "openssl (test CA)");
}

}  // namespace

Slapd::Slapd() : tempDir_("sealgate-slapd") {
  makeCa(dir_, "ca");
  makeCa(dir_, "other-ca");
  writeFile(dir_ + "/server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  runShellOrThrow("cd " + dir_ +
                      " && openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                      "-subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null && "
                      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
                      "-extfile server.ext -out server.pem 2>/dev/null",
                  "openssl (server certificate)");

  servicePassword_ = randomToken(24);
  const std::string rootPassword = randomToken(24);
  std::string hash = runShellOrThrow("slappasswd -s " + rootPassword, "slappasswd");
  while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) hash.pop_back();
  std::filesystem::create_directories(dir_ + "/db");
  writeFile(dir_ + "/slapd.conf", slapdConf(dir_, hash));
  writeFile(dir_ + "/base.ldif", baseLdif(servicePassword_));
  runShellOrThrow("slapadd -q -f " + dir_ + "/slapd.conf -l " + dir_ + "/base.ldif 2>&1", "slapadd");

  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = freeLoopbackPort();
    tlsPort_ = freeLoopbackPort();
    if (port_ == 0 || tlsPort_ == 0 || port_ == tlsPort_) continue;
    // Ready when the root DN can bind over the plain listener (docs/DEVELOPMENT.md, "OpenLDAP slapd").
    const std::string probe =
        "ldapwhoami -x -o nettimeout=2 -H " + url() + " -D " + kRootDn + " -w " + rootPassword + " >/dev/null 2>&1";
    const std::string listeners = url() + "/ " + ldapsUrl() + "/";
    if (process_.start({kSlapd, "-f", dir_ + "/slapd.conf", "-h", listeners, "-d", "0"}, dir_ + "/slapd.log",
                       [&] { return runShell(probe).status == 0; })) {
      return;
    }
  }
  throw std::runtime_error("slapd did not start; its log:\n" + readFile(dir_ + "/slapd.log"));
}

}  // namespace sealgate::testing
