package analysis

import "testing"

func TestBucketModules(t *testing.T) {
	for _, tc := range []struct{ bucket, module, image string }{
		{"0x3B_acme!Fn", "acme", ""},
		{"AV_acme_net!Fn", "acme_net", ""},
		{"0x27_SYMEVENT!SYMEvent_AllocVMData+5a7d", "SYMEVENT", ""},
		{"AV_X_(null)_BthPS3!unknown_function", "BthPS3", ""},
		{"0x133_DPC_mullvad_wireguard!unknown_function", "mullvad_wireguard", ""},
		{"0x9F_3_nvlddmkm_IMAGE_pci.sys", "nvlddmkm", "pci.sys"},
		{"0x9F_3_POWER_DOWN_nvlddmkm_IMAGE_pci.sys", "nvlddmkm", "pci.sys"},
		{"0x9F_3_POWER_DOWN_IMAGE_pci.sys", "", "pci.sys"},
		{"0x7E_c0000005_acme!Fn", "acme", ""},
		{"VISTA_DRIVER_FAULT", "", ""},
		{"", "", ""},
	} {
		m, img := BucketModules(tc.bucket)
		if m != tc.module || img != tc.image {
			t.Errorf("BucketModules(%q) = %q, %q; want %q, %q", tc.bucket, m, img, tc.module, tc.image)
		}
	}
}
