// Package redeem finds where an address is banned and plans and applies
// its redemption: unbanning it and keeping it from being banned again, in
// fail2ban, iptables and ipqbdb.
//
// Work is done in two steps. [MakePlan] asks each [Backend] where the
// addresses are banned ([Backend.Banned]) and what undoing it takes
// ([Backend.Plan]); nothing is changed. [ApplyAll] carries out the planned
// [Action]s in order and returns one [Result] each. A plan for an address
// already unbanned and kept is empty, so running redeem twice changes
// nothing the second time. [BanStatusAll] gives the ban status of many
// addresses for review: a [Status] per address, with the bans found and
// the backends that could not be consulted, so that an unreadable backend
// is never taken for "not banned".
//
// Backends answer for every address at once and read each listing once
// (fail2ban's banned addresses, each iptables chain, ipqbdb's records):
// the number of commands does not grow with the number of addresses.
//
// Every address is a [netip.Addr], checked by [CheckAddr] (invalid and
// zoned addresses are refused, IPv4-mapped IPv6 addresses become IPv4)
// before any command runs. Commands run through a [Runner], by default
// exec.CommandContext: never through a shell. Each backend's Apply accepts
// only the shapes of action its Plan makes, for the action's own address.
//
// # fail2ban
//
// [Fail2ban] talks to fail2ban-server through fail2ban-client. Bans come
// from one "banned" (fail2ban 0.10.6/0.11.2 and later: every jail's banned
// addresses), else from "status" and each jail's "status JAIL" Banned IP
// list. For each jail that bans the address the plan is, in order:
//
//   - set JAIL addignoreip IP: the jail ignores it from now on;
//   - add IP to the jail's section of the drop-in
//     jail.d/tlsrpt-redeemed.local, whose lines read
//     "ignoreip = %(known/ignoreip)s IP...": known/ interpolation appends to
//     the ignoreip configured before the drop-in (the jail's own, else
//     [DEFAULT]'s) instead of replacing it, so a reload or restart, which
//     drops runtime changes, keeps ignoring both the operator's addresses
//     and ours. The file is rewritten atomically, merging what it holds,
//     then fail2ban's own test (fail2ban-client -c DIR -t) checks the
//     configuration; when it fails, the drop-in is put back as it was (or
//     removed) and the step fails with fail2ban's reason ([ErrConfigTest]).
//     Where nothing sets ignoreip in [DEFAULT] (Debian's stock jail.conf
//     has it commented out), known/ignoreip has no value and the test
//     fails: then [BaseDropIn], an empty [DEFAULT] ignoreip read before
//     the other jail.d/*.conf files, is written too and the test run
//     again. While it is there, each plan tests the configuration without
//     it and, when that passes, its first step removes it, so an ignoreip
//     the operator set later in jail.conf is no longer replaced. A drop-in
//     that an earlier version left without it gets a step that writes it;
//   - set JAIL unbanip IP.
//
// Manual bans (set JAIL banip) ignore ignoreip, so a redeemed address can
// be banned again by hand; the next plan then unbans it again, and only
// that. The plan does not reload the jail after writing the drop-in unless
// [Fail2banOptions].Reload is set: the runtime addignoreip already has the
// drop-in's effect, and a reload would also apply whatever else the
// operator changed. A jail whose configuration ignores a wider network
// containing the address needs no keep steps.
//
// # iptables
//
// [IPTables] uses github.com/coreos/go-iptables, iptables for IPv4 and
// ip6tables for IPv6. A ban is a REJECT or DROP rule for exactly the
// address in the filter table's f2b-* chains (fail2ban's iptables actions)
// or in the operator's chains. The plan keeps the address with an ACCEPT
// rule in the chain TLSRPT-REDEEMED, which INPUT jumps to first, and
// deletes the ban rules. Bans held in ipsets are not seen.
//
// # ipqbdb
//
// [IPQBDB] runs ipqbdb's tools with the command lines of a commands file
// ([ParseIPQBDBCommands]; the built-in one is contrib/ipqbdb/commands.conf,
// [DefaultIPQBDBCommands]): list-blocked, unban, keep and list-kept. No
// ipqbdb source, man page or --help output could be read, so before any
// other command it runs each program's --help once ([IPQBDB.Prepare]) and
// refuses to go on when an option the lines use is not listed
// ([ProbeError]). A block record counts as a ban when its probability is
// above a threshold; the keep action (whitelisting) is soft: it sets the
// address's initial decay, and ipqbdb can still ban it. IPv6 addresses are
// refused unless the commands file says the command takes them. Every
// ipqbdb command runs alone in the process and is retried once after a
// short wait when it fails. The stand-in scripts of contrib/ipqbdb-standin
// and contrib/ipqbdb-standin-alt take the built-in and another set of
// command lines, for tests. docs/ipqbdb.md says what is verified.
package redeem
