/* SPDX-License-Identifier: MIT */
/*
 * test_shared_link.c - the shared library exports the public API, versioned,
 * and nothing else.
 *
 * UHMM_TEST_LINK: shared
 *
 * Hidden default visibility and the version script (src/uhmm.map) keep every
 * uhmm__ internal out of the dynamic symbol table: an application cannot bind
 * to internals, and the ABI is exactly what include/uhmm declares.  The tests
 * ask the dynamic linker (dlsym) and read the library's ELF symbol tables.
 */
#include "harness.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <uhmm/uhmm.h>

/* One symbol table of the library file: .dynsym or .symtab.  (ElfW picks
 * the native class; the ELF64_ST_* macros encode the same as ELF32_ST_*.) */
struct elf_syms {
	const ElfW(Sym) *syms;
	size_t count;
	const char *strtab;
	size_t strsz;
};

struct elf_file {
	const unsigned char *map;
	size_t size;
};

/* The file the dynamic linker loaded uhmm_mm_current() from. */
static const char *lib_path(void)
{
	Dl_info info;

	assert_int_not_equal(dladdr((void *)uhmm_mm_current, &info), 0);
	assert_non_null(info.dli_fname);
	return info.dli_fname;
}

static void elf_open(struct elf_file *f, const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *map;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(map != MAP_FAILED);
	f->map = map;
	f->size = st.st_size;
	assert_true(f->size >= sizeof(ElfW(Ehdr)));
	assert_memory_equal(f->map, ELFMAG, SELFMAG);
}

static void elf_close(struct elf_file *f)
{
	munmap((void *)f->map, f->size);
}

static bool elf_in(const struct elf_file *f, size_t off, size_t len)
{
	return off <= f->size && len <= f->size - off;
}

/* The first section of @type and its string table; false if none. */
static bool elf_symbols(const struct elf_file *f, uint32_t type,
			struct elf_syms *out)
{
	const ElfW(Ehdr) *eh = (const void *)f->map;
	const ElfW(Shdr) *sh = (const void *)(f->map + eh->e_shoff);
	const ElfW(Shdr) *str;
	unsigned int i;

	assert_true(elf_in(f, eh->e_shoff, eh->e_shnum * sizeof(*sh)));
	for (i = 0; i < eh->e_shnum && sh[i].sh_type != type; i++)
		;
	if (i == eh->e_shnum)
		return false;
	assert_true(sh[i].sh_link < eh->e_shnum);
	str = &sh[sh[i].sh_link];
	assert_true(elf_in(f, sh[i].sh_offset, sh[i].sh_size));
	assert_true(elf_in(f, str->sh_offset, str->sh_size));
	out->syms = (const void *)(f->map + sh[i].sh_offset);
	out->count = sh[i].sh_size / sizeof(ElfW(Sym));
	out->strtab = (const char *)f->map + str->sh_offset;
	out->strsz = str->sh_size;
	return true;
}

static const char *sym_name(const struct elf_syms *s, size_t i)
{
	assert_true(s->syms[i].st_name < s->strsz);
	return s->strtab + s->syms[i].st_name;
}

static const ElfW(Sym) *sym_find(const struct elf_syms *s, const char *name)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		if (strcmp(sym_name(s, i), name) == 0)
			return &s->syms[i];
	return NULL;
}

/* A symbol others can bind to: defined, global or weak, not hidden. */
static bool sym_exported(const ElfW(Sym) *sym)
{
	unsigned int bind = ELF64_ST_BIND(sym->st_info);
	unsigned int vis = ELF64_ST_VISIBILITY(sym->st_other);

	/* SHN_ABS: the version node's own name ("UHMM_0.1"), not code. */
	if (sym->st_shndx == SHN_UNDEF || sym->st_shndx == SHN_ABS)
		return false;
	if (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE)
		return false;
	return vis == STV_DEFAULT || vis == STV_PROTECTED;
}

static void api_comes_from_the_shared_library(void **state)
{
	const char *lib = lib_path();
	Dl_info self;

	assert_int_not_equal(dladdr((void *)lib_path, &self), 0);
	assert_string_not_equal(lib, self.dli_fname);
	assert_non_null(strstr(lib, "libuhmm.so"));
}

/* dlsym finds @name in the library itself, under the name @name. */
static void check_resolves(void *h, const char *name, const char *version)
{
	void *sym = version ? dlvsym(h, name, version) : dlsym(h, name);
	Dl_info info;

	if (!sym)
		fail_msg("%s@%s not found: %s", name, version ? version : "",
			 dlerror());
	assert_int_not_equal(dladdr(sym, &info), 0);
	assert_string_equal(info.dli_sname, name);
	assert_string_equal(info.dli_fname, lib_path());
}

static void public_api_resolves_by_name_and_version(void **state)
{
	void *h = dlopen(lib_path(), RTLD_NOW | RTLD_NOLOAD);

	assert_non_null(h);
	check_resolves(h, "uhmm_mm_current", NULL);
	check_resolves(h, "uhmm_mm_current", "UHMM_0.1");
	check_resolves(h, "uhmm_version", "UHMM_0.1");
	check_resolves(h, "uhmm_interval_sub_insert", "UHMM_0.1");
	dlclose(h);
}

/*
 * The UHMM_PRIVATE version node (src/uhmm.map): internal interfaces between
 * uhmm's own libraries, exported by name and nothing else.
 */
static const char *const private_api[] = {
	"uhmm__mm_grab_live", "uhmm__mm_grab_live_trylock",
	"uhmm__mm_live_may_cover",
	"uhmm__rcu_thread_known", "uhmm__os_vma_find",
	"uhmm__itree_changed_hook", "uhmm__interval_ranges",
};

static bool is_private_api(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(private_api) / sizeof(private_api[0]); i++)
		if (strcmp(name, private_api[i]) == 0)
			return true;
	return false;
}

static void private_api_only_under_its_version(void **state)
{
	void *h = dlopen(lib_path(), RTLD_NOW | RTLD_NOLOAD);
	size_t i;

	assert_non_null(h);
	for (i = 0; i < sizeof(private_api) / sizeof(private_api[0]); i++) {
		check_resolves(h, private_api[i], "UHMM_PRIVATE");
		assert_null(dlvsym(h, private_api[i], "UHMM_0.1"));
	}
	dlclose(h);
}

static void only_public_api_is_exported(void **state)
{
	struct elf_file f;
	struct elf_syms dyn;
	size_t i, exported = 0;
	const char *name;

	elf_open(&f, lib_path());
	assert_true(elf_symbols(&f, SHT_DYNSYM, &dyn));
	for (i = 0; i < dyn.count; i++) {
		if (!sym_exported(&dyn.syms[i]))
			continue;
		name = sym_name(&dyn, i);
		if (strncmp(name, "uhmm_", 5) != 0 ||
		    (strncmp(name, "uhmm__", 6) == 0 && !is_private_api(name)))
			fail_msg("exported symbol outside the API: %s", name);
		exported++;
	}
	assert_non_null(sym_find(&dyn, "uhmm_mm_current"));
	assert_true(sym_exported(sym_find(&dyn, "uhmm_mm_current")));
	assert_true(exported >= 10);
	elf_close(&f);
}

/* Present in the library (when it has a .symtab) but bound locally. */
static void check_internal(void *h, const struct elf_syms *symtab,
			   const char *name)
{
	const ElfW(Sym) *sym;

	dlerror();
	if (dlsym(h, name))
		fail_msg("internal symbol %s is visible to dlsym", name);
	if (!symtab)
		return;
	sym = sym_find(symtab, name);
	if (!sym)
		fail_msg("%s not in .symtab: update this test's names", name);
	assert_int_equal(ELF64_ST_BIND(sym->st_info), STB_LOCAL);
}

static void internal_symbols_are_hidden(void **state)
{
	void *h = dlopen(lib_path(), RTLD_NOW | RTLD_NOLOAD);
	struct elf_syms symtab;
	struct elf_file f;
	bool have;

	assert_non_null(h);
	elf_open(&f, lib_path());
	have = elf_symbols(&f, SHT_SYMTAB, &symtab);
	if (!have)
		print_message("library is stripped: checking dlsym only\n");
	check_internal(h, have ? &symtab : NULL, "uhmm__die");
	check_internal(h, have ? &symtab : NULL, "uhmm__itree_insert");
	check_internal(h, have ? &symtab : NULL, "uhmm__mutex_lock");
	elf_close(&f);
	dlclose(h);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(api_comes_from_the_shared_library),
		cmocka_unit_test(public_api_resolves_by_name_and_version),
		cmocka_unit_test(private_api_only_under_its_version),
		cmocka_unit_test(only_public_api_is_exported),
		cmocka_unit_test(internal_symbols_are_hidden),
	};

	return HARNESS_MAIN(tests);
}
