/*
 * schemas.S — the bundled XML schemas, embedded in the binary so that
 * validation never reads a schema from disk or the network and always uses
 * the bytes noted in formats/schemas/ORIGIN.md.  sahke2.c parses them once
 * at start-up (sahke2_init).  .incbin paths are relative to the assembler's
 * working folder: make runs from the top of the tree.
 *
 * Each schema is a symbol and an _end symbol; the size is end - start (a
 * NUL byte follows each, outside that size, for whoever wants a string).
 */
	.section .rodata
	.balign 16

	.globl	sailo_xsd_sahke2_2011
	.type	sailo_xsd_sahke2_2011, @object
sailo_xsd_sahke2_2011:
	.incbin	"formats/schemas/Sahke2_2011_12.xsd"
	.globl	sailo_xsd_sahke2_2011_end
sailo_xsd_sahke2_2011_end:
	.size	sailo_xsd_sahke2_2011, sailo_xsd_sahke2_2011_end - sailo_xsd_sahke2_2011
	.byte	0

	.balign 16
	.globl	sailo_xsd_sahke2_2019
	.type	sailo_xsd_sahke2_2019, @object
sailo_xsd_sahke2_2019:
	.incbin	"formats/schemas/Sahke2_2019_03.xsd"
	.globl	sailo_xsd_sahke2_2019_end
sailo_xsd_sahke2_2019_end:
	.size	sailo_xsd_sahke2_2019, sailo_xsd_sahke2_2019_end - sailo_xsd_sahke2_2019
	.byte	0

	/* No executable stack: the linker would otherwise assume one. */
	.section .note.GNU-stack,"",@progbits
