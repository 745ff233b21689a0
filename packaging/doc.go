// Package packaging holds the Debian package's files (nfpm.yaml, the
// configuration file, sysusers.d, tmpfiles.d, maintainer scripts) and the
// test that builds the package, installs it on this machine and takes it
// off again (install_test.go; make test runs it).
package packaging
