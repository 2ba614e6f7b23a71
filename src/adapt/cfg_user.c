/*
 * cfg_user.c - the top-level user and group keys: who coapd becomes once
 * its sockets are bound (daemon_sd.c does the switch).
 */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "adapt/cfg.h"
#include "adapt/cfg_int.h"

/*
 * user and group: who coapd becomes once its sockets are bound and its key
 * file read (daemon.c).  Resolved now, so a typo fails `coapd -t`.  group
 * defaults to the user's primary group.
 */
int
ld_conv_user(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg	*c = base;
	struct passwd	*pw;

	if ((pw = getpwnam(val)) == NULL) {
		ld_err(ld, s, "%s: no such user \"%s\"", key, val);
		return -EINVAL;
	}
	if ((c->user = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	/*
	 * On reload coapd is already that user or cannot change: the
	 * restart rule (cfg_reload.c) then says so, more usefully.
	 */
	if (ld->running == NULL && geteuid() != 0 &&
	    pw->pw_uid != geteuid()) {
		ld_err(ld, s, "%s: coapd is not root and cannot become \"%s\"",
		    key, val);
		return -EINVAL;
	}
	c->drop = true;
	c->uid = pw->pw_uid;
	if (c->group == NULL)
		c->gid = pw->pw_gid;
	return 0;
}

int
ld_conv_group(struct ld *ld, const struct config_setting_t *s, const char *key,
    const char *val, void *base)
{
	struct cfg	*c = base;
	struct group	*gr;

	if ((gr = getgrnam(val)) == NULL) {
		ld_err(ld, s, "%s: no such group \"%s\"", key, val);
		return -EINVAL;
	}
	if ((c->group = ld_strdup(ld, val)) == NULL)
		return -ENOMEM;
	c->gid = gr->gr_gid;
	return 0;
}
