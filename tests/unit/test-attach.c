/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * attach_vdev_devid(): Linux/Xen virtual disk names to device numbers, as
 * libxl's libxl__device_disk_dev_number() computes them (xvd* only). The
 * letters are a bijective base-26 number; disks 0-15 with partitions 0-15
 * use the compact encoding (202 << 8 | disk << 4 | part), everything else
 * the extended one (1 << 28 | disk << 8 | part). A decimal is taken as is.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>

#include "tests/check.h"
#include "xs-glue/attach.h"

static const struct {
	const char *vdev;
	int rc;
	uint32_t devid;
} cases[] = {
	{ "xvda", 0, 51712 },
	{ "xvdb", 0, 51728 },
	{ "xvdc", 0, 51744 },
	{ "xvdd", 0, 51760 },
	{ "xvdp", 0, (202u << 8) | (15u << 4) },
	{ "xvda1", 0, 51713 },
	{ "xvda15", 0, 51727 },
	{ "xvda16", 0, (1u << 28) | 16u },      /* partition 16: extended */
	{ "xvdq", 0, (1u << 28) | (16u << 8) }, /* disk 16: extended */
	{ "xvdz", 0, (1u << 28) | (25u << 8) },
	{ "xvdaa", 0, (1u << 28) | (26u << 8) }, /* bijective: z, then aa */
	{ "xvdaz", 0, (1u << 28) | (51u << 8) },
	{ "xvdba", 0, (1u << 28) | (52u << 8) },
	{ "xvdzz", 0, (1u << 28) | (701u << 8) },
	{ "xvdaaa", 0, (1u << 28) | (702u << 8) },
	{ "xvdq255", 0, (1u << 28) | (16u << 8) | 255u },
	{ "51712", 0, 51712 },
	{ "268439552", 0, 268439552u },
	{ "xvda0", -EINVAL, 0 },   /* no partition 0 spelled out */
	{ "xvda01", -EINVAL, 0 },  /* no leading zero */
	{ "xvda256", -EINVAL, 0 }, /* partitions stop at 255 */
	{ "xvd", -EINVAL, 0 },
	{ "xvdA", -EINVAL, 0 },
	{ "xvda-", -EINVAL, 0 },
	{ "hda", -EINVAL, 0 },
	{ "sda", -EINVAL, 0 },
	{ "", -EINVAL, 0 },
	{ "xvdaaaaaa", -EINVAL, 0 }, /* disk beyond 2^20 */
	{ "-1", -EINVAL, 0 },
};

int main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t devid = 0xdeadbeef;
		int rc = attach_vdev_devid(cases[i].vdev, &devid);

		CHECK(rc == cases[i].rc, "'%s': rc %d, expected %d",
		      cases[i].vdev, rc, cases[i].rc);
		if (!rc)
			CHECK(devid == cases[i].devid, "'%s': %u, expected %u",
			      cases[i].vdev, devid, cases[i].devid);
		else
			CHECK(devid == 0xdeadbeef, "'%s': set on failure",
			      cases[i].vdev);
	}
	printf("test-attach: %zu names\n", i);
	return 0;
}
