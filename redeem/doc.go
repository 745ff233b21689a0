// Package redeem finds where an address is banned and plans and applies
// its redemption: unbanning it and keeping it from being banned again, in
// fail2ban, iptables and ipqbdb.
//
// Work is done in two steps. [MakePlan] asks each [Backend] where each
// address is banned ([Backend.Banned]) and what undoing it takes
// ([Backend.Plan]); nothing is changed. [ApplyAll] carries out the planned
// [Action]s in order and returns one [Result] each. A plan for an address
// already unbanned and kept is empty, so running redeem twice changes
// nothing the second time.
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
// from "banned IP" (fail2ban 0.10.6/0.11.2 and later), else from each
// jail's "status JAIL" Banned IP list. For each jail that bans the address
// the plan is, in order:
//
//   - set JAIL addignoreip IP: the jail ignores it from now on;
//   - add IP to the jail's section of the drop-in
//     jail.d/tlsrpt-redeemed.local, whose lines read
//     "ignoreip = %(known/ignoreip)s IP...": known/ interpolation appends to
//     the ignoreip configured before the drop-in (the jail's own, else
//     [DEFAULT]'s) instead of replacing it, so a reload or restart, which
//     drops runtime changes, keeps ignoring both the operator's addresses
//     and ours. The file is rewritten atomically, merging what it holds;
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
// [IPQBDB] runs ipqbdb's ibd-del (list and delete block records) and
// ibd-white (whitelist). ipqbdb is not packaged for Debian; its command
// lines here follow the stand-in scripts in contrib/ipqbdb-standin and
// are not verified against a real ipqbdb.
package redeem
