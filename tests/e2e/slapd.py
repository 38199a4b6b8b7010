"""A real, throwaway OpenLDAP slapd for the e2e tests (docs/DEVELOPMENT.md, "OpenLDAP slapd"), like
tests/support/slapd.h: its own slapd.conf (core, cosine, nis, inetorgperson; mdb)
in a temp dir, a service account cn=svc,dc=example,dc=org with a random password,
users uid=alice, bob, carol (ou=people; cn "<Name> Example", mail
"<uid>@example.org"), a plain ldap:// and an ldaps:// listener on free loopback
ports, the ldaps certificate (IP 127.0.0.1, DNS localhost) from a test CA made
here, and a second unrelated CA for wrong-CA tests. Stopped by PID in stop().

    with Slapd() as ldap:
        ldap.url, ldap.ldaps_url, ldap.port, ldap.tls_port, Slapd.SERVICE_DN,
        ldap.service_password, ldap.ca_file, ldap.other_ca_file
"""
import os
import subprocess
import tempfile

from peer_process import PeerServer, random_token, start_until_ready
from postgres import free_port

SLAPD = "/usr/sbin/slapd"


class Slapd(PeerServer):
    BASE_DN = "dc=example,dc=org"
    SERVICE_DN = "cn=svc,dc=example,dc=org"
    ROOT_DN = "cn=admin,dc=example,dc=org"
    USERS = ("alice", "bob", "carol")

    def __init__(self):
        super().__init__()
        self.port = self.tls_port = None
        self.service_password = None
        self.ca_file = self.other_ca_file = None
        self._root_password = None

    @property
    def url(self):
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self):
        return f"ldaps://127.0.0.1:{self.tls_port}"

    def _openssl(self, *args):
        subprocess.run(["openssl", *args], cwd=self.dir, check=True, capture_output=True)

    def _make_ca(self, name):
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                      "-subj", f"/CN=sealgate-test-{name}", "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", f"{name}.key",
                      "-out", f"{name}.pem")
        return os.path.join(self.dir, f"{name}.pem")

    def _conf(self, root_hash):
        d = self.dir
        schemas = "".join(f"include /etc/ldap/schema/{s}.schema\n" for s in ("core", "cosine", "nis", "inetorgperson"))
        # Passwords may only be used to bind; everything else needs a bound user.
        return (schemas + f"pidfile {d}/slapd.pid\nargsfile {d}/slapd.args\nmodulepath /usr/lib/ldap\n"
                "moduleload back_mdb\n"
                f"TLSCACertificateFile {d}/ca.pem\nTLSCertificateFile {d}/server.pem\n"
                f"TLSCertificateKeyFile {d}/server.key\n"
                "access to attrs=userPassword by anonymous auth by self auth by * none\n"
                "access to * by users read by * none\n"
                f"database mdb\nmaxsize 16777216\nsuffix \"{self.BASE_DN}\"\nrootdn \"{self.ROOT_DN}\"\n"
                f"rootpw {root_hash}\ndirectory {d}/db\n")

    def _ldif(self):
        out = ("dn: dc=example,dc=org\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
               "o: Example\ndc: example\n\n"
               "dn: cn=svc,dc=example,dc=org\nobjectClass: person\nobjectClass: simpleSecurityObject\ncn: svc\n"
               f"sn: svc\nuserPassword: {self.service_password}\n\n"
               "dn: ou=people,dc=example,dc=org\nobjectClass: organizationalUnit\nou: people\n\n")
        for uid in self.USERS:
            out += (f"dn: uid={uid},ou=people,dc=example,dc=org\nobjectClass: inetOrgPerson\nuid: {uid}\n"
                    f"cn: {uid.capitalize()} Example\nsn: Example\nmail: {uid}@example.org\n\n")
        return out

    def _start(self):
        self.dir = tempfile.mkdtemp(prefix="sealgate-slapd-")
        self.ca_file = self._make_ca("ca")
        self.other_ca_file = self._make_ca("other-ca")
        with open(os.path.join(self.dir, "server.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        self._openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                      "-keyout", "server.key", "-out", "server.csr")
        self._openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                      "-days", "2", "-extfile", "server.ext", "-out", "server.pem")
        self.service_password = random_token(24)
        self._root_password = random_token(24)
        root_hash = subprocess.run(["slappasswd", "-s", self._root_password], check=True, capture_output=True,
                                   text=True).stdout.strip()
        os.makedirs(os.path.join(self.dir, "db"))
        conf = os.path.join(self.dir, "slapd.conf")
        with open(conf, "w") as f:
            f.write(self._conf(root_hash))
        subprocess.run(["slapadd", "-q", "-f", conf], input=self._ldif(), text=True, check=True, capture_output=True)

        def argv():
            self.port, self.tls_port = free_port(), free_port()
            return [SLAPD, "-f", conf, "-h", f"{self.url}/ {self.ldaps_url}/", "-d", "0"]

        def ready():  # the root DN can bind (docs/DEVELOPMENT.md, "OpenLDAP slapd")
            return subprocess.run(["ldapwhoami", "-x", "-o", "nettimeout=2", "-H", self.url, "-D", self.ROOT_DN,
                                   "-w", self._root_password], capture_output=True).returncode == 0

        self._proc = start_until_ready(argv, os.path.join(self.dir, "slapd.log"), ready)
